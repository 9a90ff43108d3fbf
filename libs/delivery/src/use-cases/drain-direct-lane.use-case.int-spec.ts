import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { loadConfig } from '@libs/config';
import { DeliveryRepository, DirectQueueRepository, LaneLease } from '@libs/persistence';
import {
  IsolatedDeliveries,
  WebhookReceiver,
  deliveryState,
  insertTestWebhook,
  loseOwnershipAfterFirstOutcome,
  openIsolatedDeliveries,
  testEnvironment,
  uniqueAccountId,
} from '@libs/testing';
import { WebhookHttpClient } from '../http/webhook-http-client';
import { AttemptDeliveryUseCase } from './attempt-delivery.use-case';
import { DeliveryObserver } from './delivery-observer';
import { DrainDirectLaneUseCase } from './drain-direct-lane.use-case';
import { FirstAttemptSlots } from './first-attempt-slots';

/**
 * A direct-mode lane claims its next delivery with the outcome of the one before, except
 * where its turn may end: on a real Postgres and a real receiver.
 */
describe('draining a direct-mode lane, each next delivery claimed with the outcome before it', () => {
  let isolated: IsolatedDeliveries;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;
  let queue: DirectQueueRepository;
  let client: WebhookHttpClient;
  let drain: DrainDirectLaneUseCase;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    isolated = await openIsolatedDeliveries(4);
    ({ dataSource, deliveries } = isolated);
    queue = new DirectQueueRepository(dataSource);
    receiver = await new WebhookReceiver().start();
    const config = loadConfig(testEnvironment({ DATABASE_URL: isolated.database.url }, 'direct'));
    client = new WebhookHttpClient(config);
    const attempts = new AttemptDeliveryUseCase(deliveries, client, config, new DeliveryObserver());
    drain = new DrainDirectLaneUseCase(queue, attempts, new FirstAttemptSlots(config));
  });

  afterAll(async () => {
    await client?.onApplicationShutdown();
    await receiver?.stop();
    await isolated?.close();
  });

  /** An account whose lane holds `events` events for one webhook under `path`. */
  async function laneWith(events: number, path: string) {
    const accountId = uniqueAccountId('drain');
    const webhookId = await insertTestWebhook(dataSource, accountId, { url: receiver.url(path) });
    const eventIds: string[] = [];
    for (let index = 0; index < events; index += 1) {
      const id = `evt-${randomUUID()}`;
      await queue.storeEvent(
        { id, accountId, type: 'user.created', body: `{"id":"${id}"}`, occurredAt: new Date() },
        [webhookId],
      );
      eventIds.push(id);
    }
    let lease: LaneLease | undefined;
    for (let round = 0; round < 20 && lease === undefined; round += 1) {
      const claimed = await queue.claimLanes(100, 60_000);
      lease = claimed.find((lane) => lane.accountId === accountId);
      for (const other of claimed.filter((lane) => lane !== lease)) {
        await queue.releaseLane(other, [], false);
      }
    }
    if (lease === undefined) throw new Error(`the lane of ${accountId} did not come up`);
    const deliveryIds: string[] = (
      await dataSource.query(
        `SELECT d.id FROM deliveries d JOIN unnest($1::text[]) WITH ORDINALITY AS e (id, n)
           ON d.event_id = e.id AND d.account_id = $2
         ORDER BY e.n`,
        [eventIds, accountId],
      )
    ).map((row: { id: string }) => row.id);
    return { lease, eventIds, deliveryIds };
  }

  const sentTo = (path: string) =>
    receiver.requests
      .filter((request) => request.path === path)
      .map((request) => (JSON.parse(request.body) as { id: string }).id);

  it('sends in order, claiming alone only the first delivery and the one after a turn check', async () => {
    const { lease, eventIds, deliveryIds } = await laneWith(6, '/direct-order');
    const claimsAlone = jest.spyOn(deliveries, 'claimFirstAttempts');
    try {
      const outcome = await drain.drain(lease, { owned: () => true, turnIsOver: () => false });
      expect(outcome).toBe('emptied');
      // Turn checks come after every fourth attempt: the fifth is claimed on its own.
      expect(claimsAlone.mock.calls.map(([ids]) => ids)).toEqual([
        [deliveryIds[0]],
        [deliveryIds[4]],
      ]);
    } finally {
      claimsAlone.mockRestore();
    }
    expect(sentTo('/direct-order')).toEqual(eventIds);
  });

  it('gives the claim made ahead back when the lane is lost before using it', async () => {
    const { lease, deliveryIds } = await laneWith(3, '/direct-lost');
    // Lost right after the first outcome (and the claim of the next delivery with it) is stored.
    const lane = loseOwnershipAfterFirstOutcome(deliveries);
    try {
      const outcome = await drain.drain(lease, { owned: lane.owned, turnIsOver: () => false });
      expect(outcome).toBe('let-go');
      expect(lane.sharedCalls()).toBeGreaterThan(0);
    } finally {
      lane.restore();
    }
    expect(sentTo('/direct-lost')).toHaveLength(1);
    expect(await deliveryState(dataSource, deliveryIds[1])).toMatchObject({
      status: 'pending',
      claim_token: null,
      attempts: 0,
    });
  });
});
