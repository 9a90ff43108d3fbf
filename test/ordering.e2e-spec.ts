import { Stack, WebhookReceiver, eventually, sleep, uniqueAccountId } from '@libs/testing';

const SLOW_REPLY_MS = 150;
const EVENTS_PER_ACCOUNT = 8;

describe('per-account order with accounts in parallel (e2e)', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();
  const slowAccount = uniqueAccountId('slow');
  const fastAccount = uniqueAccountId('fast');

  beforeAll(async () => {
    await receiver.start();
    receiver.reply('/slow', () => ({ delayMs: SLOW_REPLY_MS }));
    stack = await Stack.start({ WORKER_CONCURRENCY: '4' });
    for (const [account, path] of [
      [slowAccount, '/slow'],
      [fastAccount, '/fast'],
    ]) {
      const created = await stack.api.post('/v1/webhooks', {
        account_id: account,
        url: receiver.url(path),
      });
      expect(created.status).toBe(201);
    }
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it("sends an account's events one after another in Kafka order, without holding back other accounts", async () => {
    // Interleaved in one batch: the worker gets a backlog for both accounts at once.
    const events = [];
    for (let position = 1; position <= EVENTS_PER_ACCOUNT; position += 1) {
      for (const account of [slowAccount, fastAccount]) {
        events.push({ type: 'user.created', account_id: account, data: { position } });
      }
    }
    await stack.produce(events);

    await eventually(() => {
      expect(receiver.requestsTo('/slow')).toHaveLength(EVENTS_PER_ACCOUNT);
      expect(receiver.requestsTo('/fast')).toHaveLength(EVENTS_PER_ACCOUNT);
    });

    const positions = (path: string) =>
      receiver
        .requestsTo(path)
        .map(
          (request) => (JSON.parse(request.body) as { data: { position: number } }).data.position,
        );
    const inOrder = Array.from({ length: EVENTS_PER_ACCOUNT }, (_, index) => index + 1);
    expect(positions('/slow')).toEqual(inOrder);
    expect(positions('/fast')).toEqual(inOrder);

    // One after another: the next request starts only once the previous slow answer came.
    const slowArrivals = receiver.requestsTo('/slow').map((request) => request.receivedAt);
    for (let index = 1; index < slowArrivals.length; index += 1) {
      expect(slowArrivals[index] - slowArrivals[index - 1]).toBeGreaterThanOrEqual(
        SLOW_REPLY_MS - 10,
      );
    }
    // In parallel: the fast account is done long before the slow one's backlog is.
    const fastDone = Math.max(...receiver.requestsTo('/fast').map((request) => request.receivedAt));
    expect(fastDone).toBeLessThan(slowArrivals[slowArrivals.length - 1] - 3 * SLOW_REPLY_MS);
  });
});

describe('per-account order beyond what a lane holds in memory (e2e)', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();
  const account = uniqueAccountId('backlogged');
  const EVENTS = 70;

  beforeAll(async () => {
    await receiver.start();
    receiver.reply('/backlogged', () => ({ delayMs: 20 }));
    // Two slots: a lane holds 20 events, the rest of the backlog is parked in Postgres.
    stack = await Stack.start({ WORKER_CONCURRENCY: '2' });
    await stack.api.post('/v1/webhooks', { account_id: account, url: receiver.url('/backlogged') });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('delivers a backlog larger than the lane in Kafka order, each event once', async () => {
    await stack.produce(
      Array.from({ length: EVENTS }, (_, index) => ({
        type: 'user.created',
        account_id: account,
        data: { position: index + 1 },
      })),
    );
    await eventually(() => expect(receiver.requestsTo('/backlogged')).toHaveLength(EVENTS), {
      timeoutMs: 30_000,
    });
    await sleep(1000);
    const positions = receiver
      .requestsTo('/backlogged')
      .map((request) => (JSON.parse(request.body) as { data: { position: number } }).data.position);
    expect(positions).toEqual(Array.from({ length: EVENTS }, (_, index) => index + 1));
    const parked = /^webhook_events_deferred_total (\d+)/m.exec(await stack.worker.metrics());
    expect(Number(parked?.[1])).toBeGreaterThan(0);
  });
});
