import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { Webhook } from 'standardwebhooks';
import { isPublicAddress } from '@libs/delivery';
import { Stack, WebhookReceiver, eventually, sleep, uniqueAccountId } from '@libs/testing';

interface Delivery {
  id: string;
  status: string;
  attempts: { error: string | null; trigger: string; response_status: number | null }[];
}

describe('no head-of-line blocking, secret rotation, replay (e2e)', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();

  const subscribe = async (account: string, path: string) => {
    const created = await stack.api.post<{ id: string; secret: string }>('/v1/webhooks', {
      account_id: account,
      url: receiver.url(path),
    });
    expect(created.status).toBe(201);
    return created.body;
  };
  const publish = async (account: string, data: Record<string, unknown> = {}) => {
    const answer = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'user.created',
      account_id: account,
      data,
    });
    expect(answer.status).toBe(202);
    return answer.body.id;
  };
  const deliveriesOf = async (webhookId: string) =>
    (await stack.api.get<{ data: Delivery[] }>(`/v1/deliveries?webhook_id=${webhookId}`)).body.data;

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({
      DELIVERY_TIMEOUT_MS: '2000',
      RETRY_SCHEDULE: '0,60',
      RETRY_POLL_INTERVAL_MS: '100',
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it("keeps delivering other accounts' events promptly while one receiver hangs", async () => {
    const hangingAccount = uniqueAccountId('hanging');
    const healthyAccount = uniqueAccountId('healthy');
    receiver.reply('/hanging', () => ({ hang: true }));
    const hanging = await subscribe(hangingAccount, '/hanging');
    await subscribe(healthyAccount, '/healthy');

    const event = (account: string, index: number) => ({
      type: 'user.created',
      account_id: account,
      data: { index },
    });
    await stack.produce([0, 1, 2].map((index) => event(hangingAccount, index)));
    const started = Date.now();
    await stack.produce(Array.from({ length: 30 }, (_, index) => event(healthyAccount, index)));
    await eventually(() => expect(receiver.requestsTo('/healthy')).toHaveLength(30), {
      timeoutMs: 10_000,
    });
    const lastHealthy = Math.max(
      ...receiver.requestsTo('/healthy').map((request) => request.receivedAt),
    );
    // The hanging account needs 3 x 2 s; the healthy one must not wait for any of it.
    expect(lastHealthy - started).toBeLessThan(2000);

    const timedOut = await eventually(async () => {
      const [first] = (await deliveriesOf(hanging.id)).filter(
        (delivery) => delivery.status === 'retrying',
      );
      expect(first).toBeDefined();
      return (await stack.api.get<Delivery>(`/v1/deliveries/${first.id}`)).body;
    });
    expect(timedOut.attempts[0]).toMatchObject({
      response_status: null,
      error: 'timeout: no answer within 2000 ms',
    });
  });

  it('signs with both the old and the new secret for a day after a rotation', async () => {
    const account = uniqueAccountId('rotating');
    const webhook = await subscribe(account, '/rotating');
    const rotated = await stack.api.post<{ secret: string }>(
      `/v1/webhooks/${webhook.id}/rotate-secret`,
    );
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(webhook.secret);
    const fetched = await stack.api.get<Record<string, unknown>>(`/v1/webhooks/${webhook.id}`);
    expect(fetched.body).not.toHaveProperty('secret');

    await publish(account);
    await eventually(() => expect(receiver.requestsTo('/rotating')).toHaveLength(1));
    const [request] = receiver.requestsTo('/rotating');
    const headers = {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    };
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(webhook.secret).verify(request.body, headers)).not.toThrow();
    expect(() => new Webhook(rotated.body.secret).verify(request.body, headers)).not.toThrow();
  });

  it("replays a webhook's deliveries of a time window", async () => {
    const account = uniqueAccountId('replayed');
    const webhook = await subscribe(account, '/replayed');
    const since = new Date(Date.now() - 1000).toISOString();
    const ids = [await publish(account, { n: 1 }), await publish(account, { n: 2 })];
    await eventually(() => expect(receiver.requestsTo('/replayed')).toHaveLength(2));
    // A delivery is replayed once its attempt is recorded (a moment after its arrival): not
    // while it is still under way.
    await eventually(async () =>
      expect((await deliveriesOf(webhook.id)).map((delivery) => delivery.status)).toEqual([
        'succeeded',
        'succeeded',
      ]),
    );

    const replay = await stack.api.post<{ queued: number }>(`/v1/webhooks/${webhook.id}/replay`, {
      since,
    });
    expect({ status: replay.status, body: replay.body }).toEqual({
      status: 202,
      body: { queued: 2, next_since: null },
    });
    await eventually(() => expect(receiver.requestsTo('/replayed')).toHaveLength(4));
    const replayedIds = receiver
      .requestsTo('/replayed')
      .slice(2)
      .map((request) => String(request.headers['webhook-id']));
    expect(replayedIds.sort()).toEqual([...ids].sort());
    const [latest] = await deliveriesOf(webhook.id);
    // The receiver has the request a moment before the worker has recorded its answer.
    await eventually(async () => {
      const detail = (await stack.api.get<Delivery>(`/v1/deliveries/${latest.id}`)).body;
      expect(detail.attempts.map((attempt) => attempt.trigger)).toEqual(['scheduled', 'manual']);
    });

    const future = new Date(Date.now() + 60_000).toISOString();
    expect(
      (await stack.api.post(`/v1/webhooks/${webhook.id}/replay`, { since: future })).body,
    ).toEqual({ queued: 0, next_since: null });
    expect(
      (await stack.api.post(`/v1/webhooks/${webhook.id}/replay`, { since: 'yesterday' })).status,
    ).toBe(400);
  });
});

describe('a flood of events for a hanging receiver (e2e)', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    await receiver.start();
    // Two slots hold 40 events in memory: without per-account lane limits, 60 events of one
    // hanging account would fill that buffer and stop the consumer for everyone.
    stack = await Stack.start({ WORKER_CONCURRENCY: '2', DELIVERY_TIMEOUT_MS: '1000' });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('does not stall the other accounts, and stores every event of the flooded one', async () => {
    const flooded = uniqueAccountId('flooded');
    const healthy = uniqueAccountId('healthy');
    receiver.reply('/flooded', () => ({ hang: true }));
    const hanging = await stack.api.post<{ id: string }>('/v1/webhooks', {
      account_id: flooded,
      url: receiver.url('/flooded'),
    });
    await stack.api.post('/v1/webhooks', { account_id: healthy, url: receiver.url('/healthy') });

    const event = (account: string, index: number) => ({
      type: 'user.created',
      account_id: account,
      data: { index },
    });
    await stack.produce(Array.from({ length: 60 }, (_, index) => event(flooded, index)));
    const started = Date.now();
    await stack.produce(Array.from({ length: 20 }, (_, index) => event(healthy, index)));
    await eventually(() => expect(receiver.requestsTo('/healthy')).toHaveLength(20), {
      timeoutMs: 10_000,
    });
    const lastHealthy = Math.max(
      ...receiver.requestsTo('/healthy').map((request) => request.receivedAt),
    );
    expect(lastHealthy - started).toBeLessThan(3000);

    // Nothing of the flooded account is lost: what did not fit its lane was stored at once,
    // the rest is stored as the lane works through it (one timeout each).
    await eventually(
      async () => {
        const page = await stack.api.get<{ data: unknown[] }>(
          `/v1/deliveries?webhook_id=${hanging.body.id}&limit=100`,
        );
        expect(page.body.data).toHaveLength(60);
      },
      { timeoutMs: 45_000 },
    );
    const metrics = await stack.worker.metrics();
    expect(
      Number(/^webhook_events_deferred_total (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(20);
  });
});

describe.each(['kafka', 'direct'] as const)('private address guard, %s mode (e2e)', (mode) => {
  let stack: Stack;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' }, { mode });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it.each([
    '127.0.0.1',
    'localhost',
    '[::1]',
    '127.9.8.7',
    '2130706433',
    '0x7f000001',
    '[::ffff:127.0.0.1]',
  ])('refuses a webhook on %s at creation', async (host) => {
    const answer = await stack.api.post<{ message: string | string[] }>('/v1/webhooks', {
      account_id: uniqueAccountId('guarded'),
      url: `http://${host}:${receiver.listeningPort}/hook`,
    });
    expect(answer.status).toBe(400);
    // Either refused as a non-public address, or (decimal form) not taken for a URL at all.
    expect(String(answer.body.message)).toMatch(
      /url is not allowed|url must be an http or https URL/,
    );
  });

  it('blocks at delivery a name that resolves to a non-public address, and records why', async () => {
    // The machine's own name resolves, through /etc/hosts, to a loopback or private address.
    const name = hostname();
    const { address } = await lookup(name);
    expect(isPublicAddress(address)).toBe(false);
    const account = uniqueAccountId('guarded');
    const created = await stack.api.post<{ id: string }>('/v1/webhooks', {
      account_id: account,
      url: `http://${name}:${receiver.listeningPort}/hook`,
    });
    expect(created.status).toBe(201);
    await stack.api.post('/v1/events', { type: 'user.created', account_id: account, data: {} });

    const delivery = await eventually(async () => {
      const listed = await stack.api.get<{ data: Delivery[] }>(
        `/v1/deliveries?webhook_id=${created.body.id}`,
      );
      expect(listed.body.data[0]?.status).toBe('failed');
      return (await stack.api.get<Delivery>(`/v1/deliveries/${listed.body.data[0].id}`)).body;
    });
    expect(delivery.attempts[0].error).toMatch(
      new RegExp(`^blocked address: ${name} resolves to `),
    );
    await sleep(500);
    expect(receiver.requests).toHaveLength(0);
  });
});
