import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  AppName,
  AppProcess,
  Stack,
  WebhookReceiver,
  eventually,
  sleep,
  testEnvironment,
  uniqueAccountId,
} from '@libs/testing';
import { createCertificateAuthority } from '../scripts/infra/broker-tls';
import { startBroker, stopBroker } from '../scripts/infra/kafka-broker';
import { freePorts } from '../scripts/infra/process';

const USER = { name: 'webhooks-app', password: 'webhooks-app-secret' };

interface ReadyBody {
  error?: { kafka?: { status: string; setting: string; message: string } };
}

/**
 * The production settings against a real broker: a SASL_SSL listener with SCRAM-SHA-512 and a
 * certificate from a throwaway CA. This file starts that broker itself (its own ports and
 * folder), since the run's shared broker speaks plaintext only.
 */
describe('Kafka over TLS with SASL/SCRAM-SHA-512 (e2e)', () => {
  let dir: string;
  let secure: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-sasl-ssl-'));
    const [port, controllerPort, saslPort] = await freePorts(3);
    const broker = await startBroker({
      dataDir: path.join(dir, 'kafka'),
      port,
      controllerPort,
      detached: false,
      saslSsl: { port: saslPort, users: [USER] },
    });
    if (!broker.saslSsl) throw new Error('the broker has no SASL_SSL listener');
    secure = {
      KAFKA_BROKERS: broker.saslSsl.brokers,
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: broker.saslSsl.caFile,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: USER.name,
      KAFKA_SASL_PASSWORD: USER.password,
    };
  });

  afterAll(async () => {
    if (dir) {
      await stopBroker(path.join(dir, 'kafka'));
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('with the right CA and credentials', () => {
    let stack: Stack;
    const receiver = new WebhookReceiver();

    beforeAll(async () => {
      await receiver.start();
      stack = await Stack.start(secure);
    });

    afterAll(async () => {
      await stack?.stop();
      await receiver.stop();
    });

    it('publishes through the api and delivers through the worker', async () => {
      const account = uniqueAccountId('tls');
      const created = await stack.api.post<{ id: string }>('/v1/webhooks', {
        account_id: account,
        url: receiver.url('/secure'),
        event_types: ['*'],
      });
      expect(created.status).toBe(201);

      const published = await stack.api.post<{ id: string }>('/v1/events', {
        type: 'order.paid',
        account_id: account,
        data: { order: 42 },
      });
      expect(published.status).toBe(202);

      await eventually(() => expect(receiver.requestsTo('/secure')).toHaveLength(1));
      const request = receiver.requestsTo('/secure')[0];
      expect(request.headers['webhook-id']).toBe(published.body.id);
      expect(JSON.parse(request.body)).toMatchObject({ type: 'order.paid', data: { order: 42 } });
    });
  });

  // These apps never get past the Kafka check, so the run's database is never touched.
  describe('with a setting the broker refuses', () => {
    let otherCaFile: string;

    beforeAll(async () => {
      otherCaFile = (await createCertificateAuthority(path.join(dir, 'other-ca'), 'other')).pemFile;
    });

    const cases: Array<[AppName, string, () => Record<string, string>, string, RegExp]> = [
      [
        'api',
        'a wrong password',
        () => ({ KAFKA_SASL_PASSWORD: 'not-the-password' }),
        'KAFKA_SASL_PASSWORD',
        /KAFKA_SASL_PASSWORD rejected by the broker \(SASL authentication failed\)/,
      ],
      [
        'worker',
        'a wrong password',
        () => ({ KAFKA_SASL_PASSWORD: 'not-the-password' }),
        'KAFKA_SASL_PASSWORD',
        /KAFKA_SASL_PASSWORD rejected by the broker \(SASL authentication failed\)/,
      ],
      [
        'api',
        'a CA that did not sign the broker certificate',
        () => ({ KAFKA_SSL_CA_FILE: otherCaFile }),
        'KAFKA_SSL_CA_FILE',
        /KAFKA_SSL_CA_FILE \(.*other\.pem\) does not trust the broker's certificate/,
      ],
      [
        'worker',
        "no CA file (only Node's bundled CAs)",
        () => ({ KAFKA_SSL_CA_FILE: '' }),
        'KAFKA_SSL_CA_FILE',
        /KAFKA_SSL_CA_FILE \(not set: Node's bundled CAs\) does not trust the broker's certificate/,
      ],
    ];

    it.each(cases)(
      'the %s with %s logs one line naming the setting and stays up, not ready',
      async (name, _what, override, setting, line) => {
        const app = await AppProcess.launch(name, {
          ...testEnvironment({ ...secure, ...override() }),
          LOG_LEVEL: 'info',
        });
        try {
          const ready = await eventually(
            async () => {
              const response = await fetch(`${app.url}/health/ready`);
              expect(response.status).toBe(503);
              return (await response.json()) as ReadyBody;
            },
            { timeoutMs: 30_000, intervalMs: 200 },
          );
          expect(ready.error?.kafka).toMatchObject({ status: 'down', setting });
          expect((await fetch(`${app.url}/health/live`)).status).toBe(200);

          // Still running a while later, still not ready, and it said so exactly once.
          await sleep(3_000);
          expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
          expect((await fetch(`${app.url}/health/ready`)).status).toBe(503);
          const lines = app.logs().trim().split('\n');
          expect(lines).toHaveLength(1);
          const logged = JSON.parse(lines[0]) as { level: number; setting: string; msg: string };
          expect(logged.setting).toBe(setting);
          expect(logged.msg).toMatch(line);
          expect(logged.level).toBe(50);
          // It ends by our SIGTERM, not by an exit of its own in between.
          expect(await app.stop()).toEqual({ code: null, signal: 'SIGTERM' });
        } finally {
          await app.stop();
        }
      },
    );
  });
});
