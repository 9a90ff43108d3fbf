import { DataSource } from 'typeorm';
import { DeliveryRepository } from '@libs/persistence';
import {
  IsolatedDeliveries,
  openIsolatedDeliveries,
  insertTestWebhook,
  testIncomingEvent,
  uniqueAccountId,
} from '@libs/testing';
import { matchesEventType } from './event-type-matcher';

/**
 * The worker picks an event's webhooks in SQL (DeliveryRepository.storeEvents), the direct-mode
 * api with `matchesEventType`: both must choose the same ones, whatever the patterns.
 */
describe('event type matching in Postgres and in TypeScript', () => {
  let isolated: IsolatedDeliveries;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;

  const SUBSCRIPTIONS = [
    ['*'],
    ['user.*'],
    ['user.created'],
    ['user.created.v2'],
    ['order.*', 'user.deleted'],
    ['user.profile.*'],
    ['User.created'],
    ['user_x.*'],
  ];
  const TYPES = [
    'user.created',
    'user.deleted',
    'user',
    'user.',
    'userx.created',
    'user.created.v2',
    'user.profile.updated',
    'order',
    'order.paid',
    'User.created',
    'user_x.a',
    // `_` is a LIKE wildcard: a rule written with LIKE would match this to `user_x.*`.
    'user-x.a',
  ];

  beforeAll(async () => {
    isolated = await openIsolatedDeliveries(2);
    ({ dataSource, deliveries } = isolated);
  });

  afterAll(async () => {
    await isolated?.close();
  });

  it('chooses the webhooks matchesEventType chooses, in the order they were created', async () => {
    const account = uniqueAccountId('matching');
    const webhooks: { id: string; eventTypes: string[] }[] = [];
    for (const eventTypes of SUBSCRIPTIONS) {
      webhooks.push({
        id: await insertTestWebhook(dataSource, account, { eventTypes }),
        eventTypes,
      });
    }
    // Never chosen: disabled, deleted, or another account's.
    await insertTestWebhook(dataSource, account, { enabled: false });
    await insertTestWebhook(dataSource, account, { deletedAt: new Date() });
    await insertTestWebhook(dataSource, uniqueAccountId('other'));

    const events = TYPES.map((type) => ({ ...testIncomingEvent(account), type }));
    const stored = await deliveries.storeEvents(events);
    const chosen = await Promise.all(
      stored.map(async (ids) =>
        ids.length === 0
          ? []
          : (
              await dataSource.query<{ webhook_id: string }[]>(
                `SELECT webhook_id FROM deliveries WHERE id = ANY($1::uuid[]) ORDER BY seq`,
                [ids],
              )
            ).map((row) => row.webhook_id),
      ),
    );
    const expected = TYPES.map((type) =>
      webhooks.filter((webhook) => matchesEventType(webhook.eventTypes, type)).map((w) => w.id),
    );
    expect(Object.fromEntries(TYPES.map((type, i) => [type, chosen[i]]))).toEqual(
      Object.fromEntries(TYPES.map((type, i) => [type, expected[i]])),
    );
    // Not an empty comparison: most types reach several webhooks.
    expect(expected.flat().length).toBeGreaterThan(TYPES.length);
  });
});
