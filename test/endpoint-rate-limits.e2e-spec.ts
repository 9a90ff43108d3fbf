import {
  AppProcess,
  Stack,
  WebhookReceiver,
  arrivalsOf,
  eventually,
  orderViolations,
  sequencedEvents,
  sleep,
  uniqueAccountId,
} from '@libs/testing';

const LIMIT_PER_S = 5;
/** One second's worth at once: what a full bucket lets through before the rate applies. */
const BURST = LIMIT_PER_S;
const EVENTS = 100;

/** The most requests `times` (ms) holds in any window of `windowMs`. */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let start = 0, end = 0; end < sorted.length; end += 1) {
    while (sorted[end] - sorted[start] >= windowMs) start += 1;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe('per-endpoint rate limits (e2e)', () => {
  let stack: Stack;
  let secondWorker: AppProcess;
  const receiver = new WebhookReceiver();
  const account = uniqueAccountId('limited');

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({ WORKER_CONCURRENCY: '4' });
    secondWorker = await stack.addWorker();
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('refuses a limit that is not a whole number from 1 to 10000, and null means none', async () => {
    for (const rate of [0, -1, 1.5, '5', 10_001, true, {}]) {
      const created = await stack.api.post('/v1/webhooks', {
        account_id: account,
        url: receiver.url('/refused'),
        rate_limit_per_s: rate,
      });
      expect({ rate, status: created.status }).toEqual({ rate, status: 400 });
    }
    const unlimited = await stack.api.post<{ id: string; rate_limit_per_s: number | null }>(
      '/v1/webhooks',
      { account_id: account, url: receiver.url('/unlimited'), event_types: ['none.*'] },
    );
    expect(unlimited.status).toBe(201);
    expect(unlimited.body.rate_limit_per_s).toBeNull();
    const id = unlimited.body.id;
    const limited = await stack.api.patch(`/v1/webhooks/${id}`, { rate_limit_per_s: 10_000 });
    expect(limited.body).toMatchObject({ rate_limit_per_s: 10_000 });
    for (const rate of [0, 2.5, '7']) {
      expect((await stack.api.patch(`/v1/webhooks/${id}`, { rate_limit_per_s: rate })).status).toBe(
        400,
      );
    }
    expect((await stack.api.get(`/v1/webhooks/${id}`)).body).toMatchObject({
      rate_limit_per_s: 10_000,
    });
    // Leaving it out changes nothing; null lifts the limit.
    const renamed = await stack.api.patch(`/v1/webhooks/${id}`, { description: 'renamed' });
    expect(renamed.body).toMatchObject({ rate_limit_per_s: 10_000 });
    const lifted = await stack.api.patch(`/v1/webhooks/${id}`, { rate_limit_per_s: null });
    expect(lifted.status).toBe(200);
    expect(lifted.body).toMatchObject({ rate_limit_per_s: null });
  });

  it('sends a limited webhook no more than its rate across two workers, each event once, in order', async () => {
    const created = await stack.api.post<{ id: string; rate_limit_per_s: number }>('/v1/webhooks', {
      account_id: account,
      url: receiver.url('/limited'),
      rate_limit_per_s: LIMIT_PER_S,
    });
    expect(created.status).toBe(201);
    expect(created.body.rate_limit_per_s).toBe(LIMIT_PER_S);

    const started = Date.now();
    await stack.produce(sequencedEvents([account], EVENTS));
    await eventually(() => expect(receiver.requestsTo('/limited')).toHaveLength(EVENTS), {
      timeoutMs: 60_000,
    });
    const tookMs = Date.now() - started;
    await sleep(1000);

    const requests = receiver.requestsTo('/limited');
    const arrivals = arrivalsOf(requests);
    expect(requests).toHaveLength(EVENTS);
    expect(new Set(arrivals.map((arrival) => arrival.eventId)).size).toBe(EVENTS);
    expect(orderViolations(arrivals)).toEqual([]);
    const busiest = busiestWindow(
      requests.map((request) => request.receivedAt),
      1000,
    );
    console.log(
      `rate limit ${LIMIT_PER_S}/s: ${EVENTS} requests in ${tookMs} ms, at most ${busiest} in any 1 s window`,
    );
    expect(busiest).toBeLessThanOrEqual(LIMIT_PER_S + BURST);
    // The whole run could not have gone faster than the burst plus the rate allow.
    expect(tookMs).toBeGreaterThanOrEqual(((EVENTS - BURST) / LIMIT_PER_S) * 1000 - 1000);

    // Waiting counted no attempt: each delivery has its one, successful (the last outcomes are
    // recorded a moment after their arrivals).
    await eventually(async () => {
      const history = await stack.api.get<{
        data: { status: string; attempt_count: number }[];
      }>(`/v1/deliveries?webhook_id=${created.body.id}&limit=100`);
      expect(history.body.data).toHaveLength(EVENTS);
      expect(
        history.body.data.filter((d) => d.status !== 'succeeded' || d.attempt_count !== 1),
      ).toEqual([]);
    });
    // The waits show in the workers' metrics, and nowhere in the history.
    const waited = await Promise.all(
      [stack.worker, secondWorker].map(async (worker) =>
        Number(
          /^webhook_deliveries_rate_limited_total (\d+)/m.exec(await worker.metrics())?.[1] ?? 0,
        ),
      ),
    );
    expect(waited.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
  });
});

describe('per-endpoint rate limits in direct mode (e2e)', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    await receiver.start();
    // One lane slot: the limited account and the other one take turns with it.
    stack = await Stack.start({ WORKER_CONCURRENCY: '1' }, { mode: 'direct' });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it("does not keep other accounts waiting while a limited webhook's lane waits for its rate", async () => {
    const [limited, other] = [uniqueAccountId('slow-lane'), uniqueAccountId('fast-lane')];
    for (const [account, rate] of [
      [limited, 2],
      [other, null],
    ] as const) {
      const created = await stack.api.post('/v1/webhooks', {
        account_id: account,
        url: receiver.url(`/${account}`),
        rate_limit_per_s: rate,
      });
      expect(created.status).toBe(201);
    }
    // Six seconds of the limited account's events first, then three of the other's.
    await stack.publishInOrder(sequencedEvents([limited], 14));
    await stack.publishInOrder(sequencedEvents([other], 3));
    await eventually(() => expect(receiver.requestsTo(`/${limited}`)).toHaveLength(14), {
      timeoutMs: 30_000,
    });
    await eventually(() => expect(receiver.requestsTo(`/${other}`)).toHaveLength(3));
    const lastOf = (account: string) =>
      Math.max(...receiver.requestsTo(`/${account}`).map((request) => request.receivedAt));
    // The other account got the slot when the limited lane's turn was over (2 s), long before
    // the limited account was done.
    expect(lastOf(other)).toBeLessThan(lastOf(limited) - 1500);
    expect(orderViolations(arrivalsOf(receiver.requests))).toEqual([]);
  });
});
