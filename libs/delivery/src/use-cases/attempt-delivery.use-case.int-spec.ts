import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { DataSource } from 'typeorm';
import { AppConfig, loadConfig } from '@libs/config';
import { DeliveryRepository } from '@libs/persistence';
import {
  IsolatedDeliveries,
  TEST_ADMIN_KEY,
  TEST_ENCRYPTION_KEYS,
  WebhookReceiver,
  deliveryState,
  openIsolatedDeliveries,
  insertTestWebhook,
  testIncomingEvent,
  uniqueAccountId,
} from '@libs/testing';
import { WebhookHttpClient } from '../http/webhook-http-client';
import { AttemptDeliveryUseCase, AttemptGates } from './attempt-delivery.use-case';
import { DeliveryObserver } from './delivery-observer';

const TIMEOUT_MS = 1000;
/** Lease of this test's claims: with the 5 s kept for recording, a claim may wait 1 s to send. */
const SHORT_LEASE_MS = TIMEOUT_MS + 6000;
const SEND_WITHIN_MS = 1000;

/** The use case with a lease short enough to outwait in a test (the real margin is 30 s). */
class ShortLeaseAttempts extends AttemptDeliveryUseCase {
  override get leaseMs(): number {
    return SHORT_LEASE_MS;
  }
}

/** A lease that lets a claim wait 4 s for its slot: longer than the webhook's re-check. */
class LongerLeaseAttempts extends AttemptDeliveryUseCase {
  override get leaseMs(): number {
    return TIMEOUT_MS + 9000;
  }
}

describe('first attempts waiting for a send slot, on a real Postgres and a real receiver', () => {
  let isolated: IsolatedDeliveries;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;
  let client: WebhookHttpClient;
  let attempts: AttemptDeliveryUseCase;
  let config: AppConfig;
  let receiver: WebhookReceiver;
  const accountId = uniqueAccountId('slots');

  beforeAll(async () => {
    isolated = await openIsolatedDeliveries(4);
    ({ dataSource, deliveries } = isolated);
    receiver = await new WebhookReceiver().start();
    config = loadConfig({
      KAFKA_BROKERS: '127.0.0.1:1',
      DATABASE_URL: isolated.database.url,
      ADMIN_API_KEY: TEST_ADMIN_KEY,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      DELIVERY_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    client = new WebhookHttpClient(config);
    attempts = new ShortLeaseAttempts(deliveries, client, config, new DeliveryObserver());
    await insertTestWebhook(dataSource, accountId, { url: receiver.url('/slots') });
  });

  afterAll(async () => {
    await client?.onApplicationShutdown();
    await receiver?.stop();
    await isolated?.close();
  });

  /** One send slot, busy for `busyMs` from now on; claims are not limited. */
  function gatesWithBusySlot(busyMs: number): AttemptGates {
    const send = pLimit(1);
    void send(() => new Promise((resolve) => setTimeout(resolve, busyMs)));
    return { claim: (work) => work(), send: (work) => send(work) };
  }

  const rowOf = async (id: string) => {
    const { status, attempt_count, attempts } = await deliveryState(dataSource, id);
    return { status, attempt_count, attempts };
  };

  it('sends on the first claim when the slot comes within the lease margin', async () => {
    const [[id]] = await deliveries.storeEvents([testIncomingEvent(accountId)]);
    const released = jest.spyOn(deliveries, 'releaseUnattempted');
    try {
      const result = await attempts.executeFirst(id, () => true, gatesWithBusySlot(200));
      expect(result).toMatchObject({ deliveryId: id, attemptNumber: 1, status: 'succeeded' });
      expect(released).not.toHaveBeenCalled();
      expect(await rowOf(id)).toEqual({ status: 'succeeded', attempt_count: 1, attempts: 1 });
    } finally {
      released.mockRestore();
    }
  });

  it('does not send a delivery claimed by its store whose webhook was disabled while it waited for a slot', async () => {
    const owner = uniqueAccountId('disabled');
    const webhookId = await insertTestWebhook(dataSource, owner, {
      url: receiver.url('/disabled'),
    });
    const [stored] = await deliveries.storeEventsClaimingFirst([testIncomingEvent(owner)], {
      tokens: [randomUUID()],
      leaseMs: attempts.leaseMs,
    });
    const held = { delivery: stored.claimed!, claimedAt: Date.now() };
    expect(held.delivery.webhook.active).toBe(true);
    // Disabled by its owner while the claimed delivery waits for a send slot (a wait its
    // lease covers: nothing else would read the webhook again before the request).
    await dataSource.query(`UPDATE webhooks SET enabled = false WHERE id = $1`, [webhookId]);
    const released = jest.spyOn(deliveries, 'releaseUnattempted');
    const longerLease = new LongerLeaseAttempts(deliveries, client, config, new DeliveryObserver());
    const result = await longerLease.executeFirst(
      held.delivery.id,
      () => true,
      gatesWithBusySlot(2000),
      held,
    );
    expect(result).toMatchObject({ deliveryId: held.delivery.id, status: 'discarded' });
    expect(released).not.toHaveBeenCalled();
    released.mockRestore();
    expect(receiver.requests.filter((request) => request.path === '/disabled')).toEqual([]);
    expect(await rowOf(held.delivery.id)).toEqual({
      status: 'discarded',
      attempt_count: 0,
      attempts: 0,
    });
  });

  it('gives its claim back when Postgres fails before the request, so the next try need not wait out the lease', async () => {
    const owner = uniqueAccountId('blip');
    await insertTestWebhook(dataSource, owner, { url: receiver.url('/blip') });
    const [stored] = await deliveries.storeEventsClaimingFirst([testIncomingEvent(owner)], {
      tokens: [randomUUID()],
      leaseMs: 60_000,
    });
    const held = { delivery: stored.claimed!, claimedAt: Date.now() };
    const longerLease = new LongerLeaseAttempts(deliveries, client, config, new DeliveryObserver());
    // A database blip at the re-check of the webhook, after a wait for the slot.
    const check = jest
      .spyOn(deliveries, 'webhookIsLive')
      .mockRejectedValueOnce(new Error('connection terminated'));
    try {
      await expect(
        longerLease.executeFirst(held.delivery.id, () => true, gatesWithBusySlot(1200), held),
      ).rejects.toThrow('connection terminated');
    } finally {
      check.mockRestore();
    }
    expect(await rowOf(held.delivery.id)).toEqual({
      status: 'pending',
      attempt_count: 0,
      attempts: 0,
    });
    // The lane's next try claims and sends at once (its lease was 60 s).
    const started = Date.now();
    const result = await longerLease.executeFirst(held.delivery.id, () => true);
    expect(result).toMatchObject({ deliveryId: held.delivery.id, status: 'succeeded' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(receiver.requests.filter((request) => request.path === '/blip')).toHaveLength(1);
  });

  it('gives a claim back unsent when its slot comes too late for the lease, then sends it once on a fresh claim', async () => {
    const before = receiver.requests.length;
    const [[id]] = await deliveries.storeEvents([testIncomingEvent(accountId)]);
    const released = jest.spyOn(deliveries, 'releaseUnattempted');
    try {
      const result = await attempts.executeFirst(
        id,
        () => true,
        gatesWithBusySlot(SEND_WITHIN_MS + 500),
      );
      expect(result).toMatchObject({ deliveryId: id, attemptNumber: 1, status: 'succeeded' });
      // Given back once (by then the slot was free for the fresh claim), sent once.
      expect(released).toHaveBeenCalledTimes(1);
      expect(receiver.requests.length - before).toBe(1);
      expect(await rowOf(id)).toEqual({ status: 'succeeded', attempt_count: 1, attempts: 1 });
    } finally {
      released.mockRestore();
    }
  });
});
