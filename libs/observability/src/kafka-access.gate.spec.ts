import { createServer } from 'node:net';
import { loadConfig } from '@libs/config';
import type { KafkaAccessProblem } from '@libs/messaging';
import { waitForKafkaAccess } from './kafka-access.gate';

const config = loadConfig({
  KAFKA_BROKERS: 'kafka:9092',
  DATABASE_URL: 'postgres://db/webhooks',
  ADMIN_API_KEY: 'an-admin-key-of-some-length',
  LOG_LEVEL: 'silent',
  ENCRYPTION_ALLOW_PLAINTEXT: 'true',
});

const refused: KafkaAccessProblem = {
  setting: 'KAFKA_SASL_PASSWORD',
  message: 'KAFKA_SASL_PASSWORD rejected by the broker (SASL authentication failed)',
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Answers of the check, one per call; the last one repeats. */
function checks(...answers: Array<KafkaAccessProblem | undefined>) {
  let calls = 0;
  const check = async () => answers[Math.min(calls++, answers.length - 1)];
  return { check, calls: () => calls };
}

async function get(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.json() };
}

describe('waitForKafkaAccess', () => {
  it('returns at once, serving nothing, when the brokers accept the configuration', async () => {
    const port = await freePort();
    const { check, calls } = checks(undefined);
    await waitForKafkaAccess(config, port, { check, recheckIntervalMs: 10 });
    expect(calls()).toBe(1);
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
  });

  it('holds readiness at 503 with the reason while refused, then frees the port and returns', async () => {
    const port = await freePort();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let refusing = true;
    const check = async () => {
      if (!refusing) release();
      return refusing ? refused : undefined;
    };
    const waiting = waitForKafkaAccess(config, port, { check, recheckIntervalMs: 20 });
    let returned = false;
    void waiting.then(() => (returned = true));

    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(returned).toBe(false);
    await expect(get(port, '/health/live')).resolves.toMatchObject({ status: 200 });
    await expect(get(port, '/health/ready')).resolves.toEqual({
      status: 503,
      body: expect.objectContaining({
        status: 'error',
        error: { kafka: { status: 'down', ...refused } },
      }),
    });
    await expect(get(port, '/v1/events')).resolves.toEqual({
      status: 503,
      body: { statusCode: 503, error: 'Service Unavailable', message: refused.message },
    });

    refusing = false;
    await gate;
    await waiting;
    // The app can now listen on the same port.
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
  });
});
