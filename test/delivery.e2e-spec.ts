import { Webhook } from 'standardwebhooks';
import { Stack, WebhookReceiver, eventually, sleep, uniqueAccountId } from '@libs/testing';

interface CreatedWebhook {
  id: string;
  secret: string;
}

interface DeliveryPage {
  data: {
    id: string;
    status: string;
    webhook_id: string;
    event_id: string;
    attempt_count: number;
  }[];
  next_cursor: string | null;
}

// The same engine in both modes: signing, history and duplicates behave alike.
const MODES = ['kafka', 'direct'] as const;

describe.each(MODES)('delivery from the api to webhooks, %s mode (e2e)', (mode) => {
  let stack: Stack;
  const receiver = new WebhookReceiver();
  const accountA = uniqueAccountId('a');
  const accountB = uniqueAccountId('b');
  const hooks: Record<string, CreatedWebhook> = {};

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({}, { mode });
    const subscribe = async (name: string, account: string, eventTypes: string[], extra = {}) => {
      const created = await stack.api.post<CreatedWebhook>('/v1/webhooks', {
        account_id: account,
        url: receiver.url(`/${name}`),
        event_types: eventTypes,
        ...extra,
      });
      expect(created.status).toBe(201);
      hooks[name] = created.body;
    };
    await subscribe('a-users', accountA, ['user.*'], { headers: { 'x-receiver-token': 't0k3n' } });
    await subscribe('a-all', accountA, ['*']);
    await subscribe('a-invoices', accountA, ['invoice.paid']);
    await subscribe('a-paused', accountA, ['*']);
    await subscribe('b-all', accountB, ['*']);
    expect(
      (await stack.api.patch(`/v1/webhooks/${hooks['a-paused'].id}`, { enabled: false })).status,
    ).toBe(200);
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('delivers each event once to each matching webhook, signed the Standard Webhooks way', async () => {
    const published: string[] = [];
    for (const position of [1, 2, 3]) {
      const answer = await stack.api.post<{ id: string; status: string }>('/v1/events', {
        type: 'user.created',
        account_id: accountA,
        campaign_id: 'campaign-1',
        data: { user_id: `user-${position}`, email: `u${position}@example.com`, position },
      });
      expect(answer.status).toBe(202);
      expect(answer.body.status).toBe('accepted');
      published.push(answer.body.id);
    }

    await eventually(() => {
      expect(receiver.requestsTo('/a-users')).toHaveLength(3);
      expect(receiver.requestsTo('/a-all')).toHaveLength(3);
    });
    // Give stray duplicates a chance to show up before asserting there are none.
    await sleep(1000);

    for (const name of ['a-users', 'a-all']) {
      const requests = receiver.requestsTo(`/${name}`);
      expect(requests.map((request) => request.headers['webhook-id'])).toEqual(published);
      for (const request of requests) {
        const verified = new Webhook(hooks[name].secret).verify(request.body, {
          'webhook-id': String(request.headers['webhook-id']),
          'webhook-timestamp': String(request.headers['webhook-timestamp']),
          'webhook-signature': String(request.headers['webhook-signature']),
        });
        expect(verified).toMatchObject({ type: 'user.created', account_id: accountA });
        expect(request.headers['content-type']).toBe('application/json');
        expect(request.headers['user-agent']).toMatch(/^kafka-webhooks\/\d+\.\d+\.\d+$/);
      }
    }
    expect(receiver.requestsTo('/a-users')[0].headers['x-receiver-token']).toBe('t0k3n');
    expect(JSON.parse(receiver.requestsTo('/a-all')[2].body)).toEqual({
      id: published[2],
      type: 'user.created',
      account_id: accountA,
      campaign_id: 'campaign-1',
      data: { user_id: 'user-3', email: 'u3@example.com', position: 3 },
      timestamp: expect.any(String),
    });
    expect(receiver.requestsTo('/a-invoices')).toHaveLength(0);
    expect(receiver.requestsTo('/a-paused')).toHaveLength(0);
    expect(receiver.requestsTo('/b-all')).toHaveLength(0);
  });

  it('records the delivery history: succeeded, with the attempt', async () => {
    const answer = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'invoice.paid',
      account_id: accountA,
      data: { amount: 10 },
    });
    const eventId = answer.body.id;
    const page = await eventually(async () => {
      const listed = await stack.api.get<DeliveryPage>(`/v1/deliveries?event_id=${eventId}`);
      expect(listed.body.data.map((delivery) => delivery.status)).toEqual([
        'succeeded',
        'succeeded',
      ]);
      return listed.body;
    });
    expect(page.data.map((delivery) => delivery.webhook_id).sort()).toEqual(
      [hooks['a-all'].id, hooks['a-invoices'].id].sort(),
    );

    const detail = await stack.api.get<{
      status: string;
      attempts: {
        number: number;
        trigger: string;
        response_status: number;
        response_body: string;
        error: null;
      }[];
    }>(`/v1/deliveries/${page.data[0].id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.attempts).toEqual([
      expect.objectContaining({
        number: 1,
        trigger: 'scheduled',
        response_status: 200,
        response_body: 'ok',
        error: null,
      }),
    ]);

    const event = await stack.api.get<{ id: string; type: string; deliveries: unknown[] }>(
      `/v1/events/${eventId}`,
    );
    expect(event.body).toMatchObject({ id: eventId, type: 'invoice.paid', data: { amount: 10 } });
    expect(event.body.deliveries).toHaveLength(2);
  });

  it('delivers data whose keys name prototypes as it was sent', async () => {
    // Keys any JSON object may have: an object-mapping library once crashed on "constructor"
    // in the worker, which then dead-lettered an event the api had accepted.
    const data = {
      constructor: 'Bob the Builder',
      ['__proto__']: { role: 'admin' },
      prototype: true,
      n: 7,
    };
    const published = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'profile.updated',
      account_id: accountA,
      data,
    });
    expect(published.status).toBe(202);
    const delivered = () =>
      receiver.requestsTo('/a-all').find((request) => request.body.includes(published.body.id));
    await eventually(() => expect(delivered()).toBeDefined());
    const body = delivered()?.body ?? '';
    expect(body).toContain(`"data":${JSON.stringify(data)}`);
  });

  it('delivers an event published twice with the same id only once', async () => {
    const event = {
      id: `evt-${Date.now()}`,
      type: 'order.shipped',
      account_id: accountB,
      data: { n: 1 },
    };
    const first = await stack.api.post<{ id: string }>('/v1/events', event);
    const second = await stack.api.post<{ id: string }>('/v1/events', event);
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.body.id).toBe(event.id);
    await eventually(() => expect(receiver.requestsTo('/b-all')).toHaveLength(1));
    await sleep(1500);
    expect(receiver.requestsTo('/b-all')).toHaveLength(1);
  });
});
