import { Stack, WebhookReceiver, eventually, sleep, uniqueAccountId } from '@libs/testing';

interface Page {
  data: { id: string; status: string; event_id: string }[];
  next_cursor: string | null;
}

const DELIVERIES = 260;

describe('delivery history and idempotent publishing (e2e)', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({ WORKER_CONCURRENCY: '20' });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  const publish = (account: string, extra: object = {}, headers: Record<string, string> = {}) =>
    stack.api.post<{ id: string; status: string }>(
      '/v1/events',
      { type: 'user.created', account_id: account, data: {}, ...extra },
      headers,
    );

  it(`pages through ${DELIVERIES} deliveries newest first, with no gap and no repeat while new ones arrive`, async () => {
    const account = uniqueAccountId('paged');
    await stack.api.post('/v1/webhooks', { account_id: account, url: receiver.url('/paged') });
    for (let index = 0; index < DELIVERIES; index += 1) {
      expect((await publish(account, { data: { index } })).status).toBe(202);
    }
    const everything = await eventually(
      async () => {
        const ids: string[] = [];
        let cursor: string | null = null;
        do {
          const page: Page = (
            await stack.api.get<Page>(
              `/v1/deliveries?account_id=${account}&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
            )
          ).body;
          ids.push(...page.data.map((delivery) => delivery.id));
          cursor = page.next_cursor;
        } while (cursor !== null);
        expect(ids).toHaveLength(DELIVERIES);
        return ids;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = (
        await stack.api.get<Page>(
          `/v1/deliveries?account_id=${account}&limit=37${cursor ? `&cursor=${cursor}` : ''}`,
        )
      ).body;
      seen.push(...page.data.map((delivery) => delivery.id));
      cursor = page.next_cursor;
      pages += 1;
      if (pages === 2) {
        // New deliveries land on top meanwhile: they must not shift what the next pages hold.
        for (let index = 0; index < 10; index += 1)
          await publish(account, { data: { late: index } });
        await eventually(async () => {
          const first = await stack.api.get<Page>(`/v1/deliveries?account_id=${account}&limit=1`);
          expect(everything).not.toContain(first.body.data[0]?.id);
        });
      }
    } while (cursor !== null);
    expect(pages).toBe(Math.ceil(DELIVERIES / 37));
    expect(seen).toEqual(everything);
    expect(new Set(seen).size).toBe(DELIVERIES);
  });

  it('publishes once per Idempotency-Key and delivers once', async () => {
    const account = uniqueAccountId('idempotent');
    await stack.api.post('/v1/webhooks', { account_id: account, url: receiver.url('/idempotent') });
    const key = { 'idempotency-key': `order-${Date.now()}` };
    const first = await publish(account, { data: { attempt: 1 } }, key);
    const second = await publish(account, { data: { attempt: 2 } }, key);
    const other = await publish(
      account,
      { data: { attempt: 3 } },
      { 'idempotency-key': 'another-key' },
    );
    expect([first.status, second.status, other.status]).toEqual([202, 202, 202]);
    expect(second.body.id).toBe(first.body.id);
    expect(other.body.id).not.toBe(first.body.id);

    await eventually(() => expect(receiver.requestsTo('/idempotent')).toHaveLength(2));
    await sleep(1000);
    const received = receiver.requestsTo('/idempotent');
    expect(received).toHaveLength(2);
    expect(JSON.parse(received[0].body)).toMatchObject({ id: first.body.id, data: { attempt: 1 } });
  });

  it("filters the history by webhook, event, type and status, and reports a webhook's stats", async () => {
    const account = uniqueAccountId('filtered');
    const ok = (
      await stack.api.post<{ id: string }>('/v1/webhooks', {
        account_id: account,
        url: receiver.url('/ok'),
      })
    ).body;
    receiver.reply('/gone', () => ({ status: 410 }));
    const gone = (
      await stack.api.post<{ id: string }>('/v1/webhooks', {
        account_id: account,
        url: receiver.url('/gone'),
      })
    ).body;
    const created = (await publish(account)).body.id;
    // The 410 disables the webhook; an event published after that gets no delivery to it.
    // (One published before it would get a delivery, discarded unsent when the webhook is
    // disabled: events are stored as soon as they are read, ahead of the attempts before them.)
    await eventually(async () => {
      const webhook = await stack.api.get<{ enabled: boolean }>(`/v1/webhooks/${gone.id}`);
      expect(webhook.body.enabled).toBe(false);
    });
    const invoiced = (await publish(account, { type: 'invoice.paid' })).body.id;
    await eventually(async () => {
      const listed = await stack.api.get<Page>(
        `/v1/deliveries?account_id=${account}&status=succeeded`,
      );
      expect(listed.body.data).toHaveLength(2);
    });
    const query = async (filter: string) =>
      (await stack.api.get<Page>(`/v1/deliveries?account_id=${account}&${filter}`)).body.data;
    expect(await query(`webhook_id=${ok.id}`)).toHaveLength(2);
    expect((await query(`event_id=${invoiced}`)).map((delivery) => delivery.event_id)).toEqual([
      invoiced,
    ]);
    expect(await query('event_type=invoice.paid')).toHaveLength(1);
    expect(await query('status=discarded')).toHaveLength(1);
    expect(await query(`since=${new Date(Date.now() + 60_000).toISOString()}`)).toHaveLength(0);
    expect(await query(`until=${new Date(Date.now() + 60_000).toISOString()}`)).toHaveLength(3);
    expect(created).toBeDefined();

    const stats = await stack.api.get<Record<string, unknown>>(`/v1/webhooks/${ok.id}/stats`);
    expect(stats.body).toMatchObject({
      webhook_id: ok.id,
      deliveries: { succeeded: 2, failed: 0, retrying: 0 },
      attempts: 2,
      success_rate: 1,
      last_success_at: expect.any(String),
      last_failure_at: null,
    });
    // The 410 disabled the other webhook; its stats still answer.
    const goneStats = await stack.api.get<Record<string, unknown>>(`/v1/webhooks/${gone.id}/stats`);
    expect(goneStats.body).toMatchObject({
      deliveries: { discarded: 1 },
      attempts: 1,
      success_rate: 0,
    });
  });
});
