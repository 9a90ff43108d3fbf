import { Stack, WebhookReceiver, eventually, uniqueAccountId } from '@libs/testing';

interface Attempt {
  number: number;
  trigger: string;
  started_at: string;
  response_status: number | null;
  error: string | null;
  next_attempt_at: string | null;
}
interface Delivery {
  id: string;
  status: string;
  attempt_count: number;
  last_error: string | null;
  attempts: Attempt[];
}

/** Gaps of 1, 2 and 3 s: short enough for a test, far enough apart to tell them apart. */
const SCHEDULE = [0, 1, 2, 3];

describe.each(['kafka', 'direct'] as const)('retries and outcomes, %s mode (e2e)', (mode) => {
  let stack: Stack;
  const receiver = new WebhookReceiver();
  const webhookOf: Record<string, string> = {};
  const eventOf: Record<string, string> = {};

  const deliveryOf = async (scenario: string): Promise<Delivery> => {
    const listed = await stack.api.get<{ data: { id: string }[] }>(
      `/v1/deliveries?event_id=${eventOf[scenario]}`,
    );
    expect(listed.body.data).toHaveLength(1);
    return (await stack.api.get<Delivery>(`/v1/deliveries/${listed.body.data[0].id}`)).body;
  };
  const gapsInSeconds = (path: string) => {
    const times = receiver.requestsTo(path).map((request) => request.receivedAt);
    return times.slice(1).map((time, index) => (time - times[index]) / 1000);
  };
  const publish = async (scenario: string, account = scenario) => {
    const answer = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'user.created',
      account_id: uniqueAccountIdFor(account),
      data: { scenario },
    });
    expect(answer.status).toBe(202);
    eventOf[scenario] = answer.body.id;
  };
  const accounts: Record<string, string> = {};
  const uniqueAccountIdFor = (scenario: string) =>
    (accounts[scenario] ??= uniqueAccountId(scenario));

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start(
      {
        RETRY_SCHEDULE: SCHEDULE.join(','),
        RETRY_POLL_INTERVAL_MS: '100',
        FAILING_WEBHOOK_DISABLE_AFTER_SECONDS: '2',
        FAILING_WEBHOOK_MIN_ATTEMPTS: '6',
      },
      { mode },
    );
    receiver.reply('/flaky', (_request, count) => ({ status: count <= 3 ? 500 : 200 }));
    receiver.reply('/down', () => ({ status: 503, body: 'maintenance' }));
    receiver.reply('/gone', () => ({ status: 410 }));
    receiver.reply('/throttled', (_request, count) =>
      count === 1 ? { status: 429, headers: { 'retry-after': '3' } } : { status: 200 },
    );
    receiver.reply('/moved', () => ({
      status: 302,
      headers: { location: receiver.url('/elsewhere') },
    }));
    receiver.reply('/broken', () => ({ status: 500 }));
    for (const scenario of ['flaky', 'down', 'gone', 'throttled', 'moved', 'broken']) {
      const created = await stack.api.post<{ id: string }>('/v1/webhooks', {
        account_id: uniqueAccountIdFor(scenario),
        url: receiver.url(`/${scenario}`),
      });
      expect(created.status).toBe(201);
      webhookOf[scenario] = created.body.id;
    }
    // Every scenario runs at once; each test then waits for its own outcome.
    for (const scenario of ['flaky', 'down', 'gone', 'throttled', 'moved', 'broken']) {
      await publish(scenario);
    }
    await publish('broken-2', 'broken');
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('retries a failing receiver on the schedule until it succeeds', async () => {
    await eventually(async () => expect((await deliveryOf('flaky')).status).toBe('succeeded'), {
      timeoutMs: 30_000,
    });
    expect(receiver.requestsTo('/flaky')).toHaveLength(4);
    gapsInSeconds('/flaky').forEach((gap, index) => {
      expect(gap).toBeGreaterThanOrEqual(SCHEDULE[index + 1] * 0.8 - 0.05);
      // +20 % jitter, plus up to one poll interval and scheduling noise on a busy 2-core machine.
      expect(gap).toBeLessThanOrEqual(SCHEDULE[index + 1] * 1.2 + 1);
    });
    const delivery = await deliveryOf('flaky');
    expect(delivery.attempts.map((attempt) => [attempt.number, attempt.response_status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
      [4, 200],
    ]);
    expect(delivery.attempts[0].error).toBe('HTTP 500');
    expect(delivery.attempts.slice(0, 3).every((attempt) => attempt.next_attempt_at !== null)).toBe(
      true,
    );
    // Every retry carries the same webhook-id, so receivers can deduplicate.
    expect(
      new Set(receiver.requestsTo('/flaky').map((request) => request.headers['webhook-id'])).size,
    ).toBe(1);
  });

  it('ends as failed once the attempts are exhausted; a manual retry makes one more attempt', async () => {
    const failed = await eventually(
      async () => {
        const delivery = await deliveryOf('down');
        expect(delivery.status).toBe('failed');
        return delivery;
      },
      { timeoutMs: 30_000 },
    );
    expect(failed.attempts).toHaveLength(SCHEDULE.length);
    expect(failed.last_error).toBe('HTTP 503');

    receiver.reply('/down', () => ({ status: 200 }));
    expect((await stack.api.post(`/v1/deliveries/${failed.id}/retry`)).status).toBe(202);
    const retried = await eventually(async () => {
      const delivery = await deliveryOf('down');
      expect(delivery.status).toBe('succeeded');
      return delivery;
    });
    expect(retried.attempts.at(-1)).toMatchObject({
      number: 5,
      trigger: 'manual',
      response_status: 200,
    });
    expect(receiver.requestsTo('/down')).toHaveLength(SCHEDULE.length + 1);
  });

  it('disables the webhook on 410 and discards its delivery', async () => {
    await eventually(async () => expect((await deliveryOf('gone')).status).toBe('discarded'));
    const webhook = await stack.api.get<{ enabled: boolean; disabled_reason: string }>(
      `/v1/webhooks/${webhookOf.gone}`,
    );
    expect(webhook.body).toMatchObject({
      enabled: false,
      disabled_reason: 'receiver answered 410 Gone',
    });
    expect(receiver.requestsTo('/gone')).toHaveLength(1);
    // What the "endpoint disabled" alert watches (deploy/observability).
    const metrics = await stack.worker.metrics();
    const disabled = (cause: string) =>
      Number(
        new RegExp(`^webhook_endpoints_disabled{cause="${cause}"} (\\d+)`, 'm').exec(metrics)?.[1],
      );
    expect(disabled('failing')).toBeGreaterThanOrEqual(1);
    expect(disabled('api')).toBe(0);
  });

  it('waits at least as long as Retry-After says after a 429', async () => {
    await eventually(async () => expect((await deliveryOf('throttled')).status).toBe('succeeded'), {
      timeoutMs: 15_000,
    });
    const [gap] = gapsInSeconds('/throttled');
    expect(gap).toBeGreaterThanOrEqual(3);
    expect(gap).toBeLessThan(5);
  });

  it('does not follow redirects and records them as failures', async () => {
    const delivery = await eventually(async () => {
      const found = await deliveryOf('moved');
      expect(found.attempts.length).toBeGreaterThanOrEqual(1);
      return found;
    });
    expect(delivery.attempts[0]).toMatchObject({
      response_status: 302,
      error: `HTTP 302: redirect to ${receiver.url('/elsewhere')} not followed`,
    });
    expect(receiver.requestsTo('/elsewhere')).toHaveLength(0);
  });

  it('disables a webhook that keeps failing, and resumes it when enabled again', async () => {
    // Two events fail side by side: six failures over more than two seconds disable it.
    const webhook = await eventually(
      async () => {
        const found = await stack.api.get<{ enabled: boolean; disabled_reason: string | null }>(
          `/v1/webhooks/${webhookOf.broken}`,
        );
        expect(found.body.enabled).toBe(false);
        return found.body;
      },
      { timeoutMs: 30_000 },
    );
    expect(webhook.disabled_reason).toMatch(/without a success \(\d+ failed attempts\)/);
    const listed = await stack.api.get<{ data: { status: string }[] }>(
      `/v1/deliveries?webhook_id=${webhookOf.broken}`,
    );
    expect(listed.body.data.map((delivery) => delivery.status)).toContain('discarded');

    receiver.reply('/broken', () => ({ status: 200 }));
    const resumed = await stack.api.patch<{ enabled: boolean; disabled_reason: null }>(
      `/v1/webhooks/${webhookOf.broken}`,
      { enabled: true },
    );
    expect(resumed.body).toMatchObject({ enabled: true, disabled_reason: null });
    const before = receiver.requestsTo('/broken').length;
    await publish('broken');
    await eventually(() => expect(receiver.requestsTo('/broken')).toHaveLength(before + 1));
  });
});
