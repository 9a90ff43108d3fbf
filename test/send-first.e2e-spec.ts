/**
 * First attempts sent before their events are stored (DELIVERY_SEND_FIRST=true): the worker
 * routes from a cache of each account's webhooks, so what matters is that a change made before
 * an event was published is always seen, and that the history still shows every attempt.
 */
import { Stack, WebhookReceiver, eventually, sleep, uniqueAccountId } from '@libs/testing';

interface DeliveryPage {
  data: { webhook_id: string; event_id: string; status: string; attempt_count: number }[];
}

describe('first attempts sent before their events are stored (e2e)', () => {
  const receiver = new WebhookReceiver();
  let stack: Stack;

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({ DELIVERY_SEND_FIRST: 'true' });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('sends each event to the webhooks as they were when it was published', async () => {
    const account = uniqueAccountId('routing');
    const create = async (path: string) => {
      const created = await stack.api.post<{ id: string }>('/v1/webhooks', {
        account_id: account,
        url: receiver.url(path),
      });
      expect(created.status).toBe(201);
      return created.body.id;
    };
    const publish = async (id: string) => {
      const accepted = await stack.api.post('/v1/events', {
        id,
        type: 'user.created',
        account_id: account,
        data: {},
      });
      expect(accepted.status).toBe(202);
    };
    const eventsAt = (path: string) =>
      receiver.requestsTo(path).map((request) => request.headers['webhook-id']);

    const one = await create('/one');
    const two = await create('/two');
    await publish('e1');
    // Delivered: the worker holds the account's webhooks in its cache from here on.
    await eventually(() => expect([...eventsAt('/one'), ...eventsAt('/two')]).toHaveLength(2));

    // Each change lands right before the next event is published.
    expect((await stack.api.patch(`/v1/webhooks/${one}`, { enabled: false })).status).toBe(200);
    await publish('e2');
    const three = await create('/three');
    await publish('e3');
    const moved = await stack.api.patch(`/v1/webhooks/${two}`, { url: receiver.url('/two-moved') });
    expect(moved.status).toBe(200);
    await publish('e4');
    // Deleting /three before e3 and e4 reach it would rightly stop them (a deleted webhook is
    // never sent to): wait for them, so that the check of the creation above cannot race it.
    await eventually(() =>
      expect(eventsAt('/three')).toEqual(expect.arrayContaining(['e3', 'e4'])),
    );
    expect((await stack.api.delete(`/v1/webhooks/${three}`)).status).toBe(204);
    await publish('e5');

    await eventually(() => expect(eventsAt('/two-moved')).toContain('e5'));
    await sleep(1000);
    expect(eventsAt('/one')).toEqual(['e1']);
    // A webhook made after an event was published may still get it (as when it is stored
    // first): the event's routing is read when its lane reaches it. Made before: always, and
    // deleted before: never.
    expect(eventsAt('/three').filter((id) => id !== 'e2')).toEqual(['e3', 'e4']);
    // An attempt goes to the webhook as it is when it is made: events published before the
    // move may go to either address (as with stored deliveries), those after it to the new one.
    expect([...eventsAt('/two'), ...eventsAt('/two-moved')]).toEqual([
      'e1',
      'e2',
      'e3',
      'e4',
      'e5',
    ]);
    expect(eventsAt('/two')[0]).toBe('e1');
    expect(eventsAt('/two-moved').slice(-2)).toEqual(['e4', 'e5']);

    // Stored with their outcomes: one delivery per request, each with its one attempt.
    const page = await stack.api.get<DeliveryPage>(
      `/v1/deliveries?account_id=${account}&limit=100`,
    );
    const requests = ['/one', '/two', '/two-moved', '/three'].flatMap(eventsAt);
    expect(
      page.body.data.map((d) => `${d.event_id}:${d.status}:${d.attempt_count}`).sort(),
    ).toEqual(requests.map((id) => `${id}:succeeded:1`).sort());
    // They went the new way, not stored first.
    const metrics = await stack.worker.metrics();
    expect(
      Number(/^webhook_events_sent_before_stored_total (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(4);
  });
});
