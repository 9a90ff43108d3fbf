import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Stack, WebhookReceiver, eventually, uniqueAccountId } from '@libs/testing';
import { startBroker, stopBroker } from '../scripts/infra/kafka-broker';
import { freePorts } from '../scripts/infra/process';

/** The bounds a user of the api can count on while Kafka is down and once it is back. */
const MAX_503_MS = 10_000;
const MAX_RECOVERY_MS = 60_000;

interface Timed<T> {
  ms: number;
  value: T;
}

async function timed<T>(work: () => Promise<T>): Promise<Timed<T>> {
  const started = Date.now();
  const value = await work();
  return { ms: Date.now() - started, value };
}

/**
 * This file runs a broker of its own (not the run's shared one) so that it can kill it and
 * start it again on the same address and data, as a crashed and restarted broker would be.
 */
describe('Kafka outage: the api refuses fast and both apps recover by themselves (e2e)', () => {
  let dataDir: string;
  let ports: number[];
  let stack: Stack;
  const receiver = new WebhookReceiver();
  const account = uniqueAccountId('outage');

  const startOwnBroker = () =>
    startBroker({ dataDir, port: ports[0], controllerPort: ports[1], detached: false });
  const publish = (label: string, headers: Record<string, string> = {}) =>
    stack.api.post<{ id?: string; statusCode?: number; error?: string; message?: unknown }>(
      '/v1/events',
      { type: 'user.created', account_id: account, data: { label } },
      headers,
    );
  const ready = (url: string) =>
    timed(async () => {
      const response = await fetch(`${url}/health/ready`);
      return { status: response.status, body: await response.text() };
    });
  const deliveredIds = () =>
    receiver.requestsTo('/hook').map((request) => String(request.headers['webhook-id']));

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'webhooks-outage-kafka-'));
    ports = await freePorts(2);
    const { brokers } = await startOwnBroker();
    await receiver.start();
    stack = await Stack.start({ KAFKA_BROKERS: brokers });
    const webhook = await stack.api.post('/v1/webhooks', {
      account_id: account,
      url: receiver.url('/hook'),
    });
    expect(webhook.status).toBe(201);
    const before = await publish('before');
    expect(before.status).toBe(202);
    await eventually(() => expect(deliveredIds()).toContain(before.body.id));
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
    if (dataDir) {
      await stopBroker(dataDir);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('answers 503 within seconds while the broker is down, then accepts and delivers again', async () => {
    await stopBroker(dataDir, { kill: true });

    // Down: every publish is refused quickly, with the documented error shape, never a 202.
    const refusals: Timed<Awaited<ReturnType<typeof publish>>>[] = [];
    refusals.push(await timed(() => publish('during', { 'idempotency-key': 'outage-1' })));
    for (let i = 0; i < 2; i += 1) refusals.push(await timed(() => publish(`during-${i}`)));
    for (const refusal of refusals) {
      expect(refusal.value.status).toBe(503);
      expect(refusal.value.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: expect.stringMatching(/Kafka/),
      });
    }
    const worst503 = Math.max(...refusals.map((refusal) => refusal.ms));
    expect(worst503).toBeLessThan(MAX_503_MS);

    // Both apps say they are not ready, and say why, without hanging the probe.
    const apiReady = await eventually(async () => {
      const probe = await ready(stack.apiProcess.url);
      expect(probe.value.status).toBe(503);
      return probe;
    });
    const workerReady = await eventually(async () => {
      const probe = await ready(stack.worker.url);
      expect(probe.value.status).toBe(503);
      return probe;
    });
    expect(apiReady.value.body).toMatch(/kafka/);
    expect(workerReady.value.body).toMatch(/kafka/);
    expect(Math.max(apiReady.ms, workerReady.ms)).toBeLessThan(MAX_503_MS);

    // Back on the same address: no restart of either app.
    await startOwnBroker();
    const backAt = Date.now();
    const answers: number[] = [];
    const retried = await eventually(
      async () => {
        // The client's retry of the refused request, with its Idempotency-Key.
        const answer = await publish('during', { 'idempotency-key': 'outage-1' });
        answers.push(answer.status);
        expect(answer.status).toBe(202);
        return answer.body.id ?? '';
      },
      { timeoutMs: MAX_RECOVERY_MS, intervalMs: 500 },
    );
    const acceptedAfterMs = Date.now() - backAt;
    // While recovering, only "accepted" or "unavailable": never a 500, never a hang.
    expect(answers.filter((status) => status !== 202 && status !== 503)).toEqual([]);

    const fresh = await publish('after');
    expect(fresh.status).toBe(202);
    await eventually(
      () => expect(deliveredIds()).toEqual(expect.arrayContaining([retried, fresh.body.id])),
      {
        timeoutMs: MAX_RECOVERY_MS,
        intervalMs: 200,
      },
    );
    const deliveredAfterMs = Date.now() - backAt;
    // The refused event went out once, through its key's retry; nothing refused went out twice.
    expect(deliveredIds().filter((id) => id === retried)).toHaveLength(1);

    await eventually(async () => {
      expect((await ready(stack.apiProcess.url)).value.status).toBe(200);
      expect((await ready(stack.worker.url)).value.status).toBe(200);
    });

    console.log(
      `kafka outage: 503 in ${refusals.map((refusal) => refusal.ms).join('/')} ms; ` +
        `readiness 503 in ${apiReady.ms} ms (api) / ${workerReady.ms} ms (worker); ` +
        `after the broker was back: first 202 in ${acceptedAfterMs} ms ` +
        `(${answers.length} tries), delivered in ${deliveredAfterMs} ms`,
    );
    expect(deliveredAfterMs).toBeLessThan(MAX_RECOVERY_MS);
  }, 240_000);
});
