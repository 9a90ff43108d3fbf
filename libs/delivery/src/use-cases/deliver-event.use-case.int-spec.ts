import pLimit from 'p-limit';
import { DataSource } from 'typeorm';
import { loadConfig } from '@libs/config';
import { DeliveryRepository } from '@libs/persistence';
import {
  IsolatedDeliveries,
  WebhookReceiver,
  deliveryState,
  eventually,
  openIsolatedDeliveries,
  insertTestWebhook,
  loseOwnershipAfterFirstOutcome,
  sleep,
  testEnvironment,
  testIncomingEvent,
  uniqueAccountId,
} from '@libs/testing';
import { WebhookHttpClient } from '../http/webhook-http-client';
import { AttemptDeliveryUseCase, HeldClaim, Slot } from './attempt-delivery.use-case';
import { DeliverEventUseCase, StoredDeliveries } from './deliver-event.use-case';
import { DeliveryObserver } from './delivery-observer';

/**
 * A lane's next first attempt is claimed by the statement that records the outcome of the
 * one before it: on a real Postgres and a real receiver, what is sent, in which order, and
 * what becomes of a claim made ahead that the lane does not use.
 */
describe('first attempts of a lane, each claimed with the outcome of the one before', () => {
  let isolated: IsolatedDeliveries;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;
  let client: WebhookHttpClient;
  let deliverEvent: DeliverEventUseCase;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    isolated = await openIsolatedDeliveries(4);
    ({ dataSource, deliveries } = isolated);
    receiver = await new WebhookReceiver().start();
    // Kafka plays no part here: the use cases are driven directly.
    const config = loadConfig(testEnvironment({ DATABASE_URL: isolated.database.url }, 'direct'));
    client = new WebhookHttpClient(config);
    const attempts = new AttemptDeliveryUseCase(deliveries, client, config, new DeliveryObserver());
    deliverEvent = new DeliverEventUseCase(deliveries, attempts);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await client?.onApplicationShutdown();
    await receiver?.stop();
    await isolated?.close();
  });

  /** An account with `webhooks` webhooks on the receiver, under `path`. */
  async function accountWith(webhooks: number, path: string): Promise<string> {
    const accountId = uniqueAccountId('lane');
    for (let index = 0; index < webhooks; index += 1) {
      await insertTestWebhook(dataSource, accountId, { url: receiver.url(`${path}/${index}`) });
    }
    return accountId;
  }

  async function storedEvent(accountId: string): Promise<StoredDeliveries> {
    const [awaiting] = await deliveries.storeEvents([testIncomingEvent(accountId)]);
    return { deliveryIds: awaiting, held: null };
  }

  const rowOf = async (id: string) => {
    const { status, claim_token, attempts } = await deliveryState(dataSource, id);
    return { status, claim_token, attempts };
  };

  /** The lane's next event as `attemptInOrder` gets it (`after`), keeping the claim it hands. */
  function handingOver(deliveryId: string) {
    let handed: HeldClaim | null = null;
    return {
      deliveryId: () => deliveryId,
      take: (held: HeldClaim) => {
        handed = held;
      },
      handed: () => handed,
    };
  }

  /**
   * A new account's two events (one webhook, under `path`): the first sent, and the second's
   * delivery claimed ahead by the statement that recorded the first's outcome.
   */
  async function secondClaimedAhead(path: string) {
    const accountId = await accountWith(1, path);
    const [first, second] = [await storedEvent(accountId), await storedEvent(accountId)];
    const after = handingOver(second.deliveryIds[0]);
    expect(await deliverEvent.attemptInOrder(first, () => true, undefined, after)).toBe(true);
    const claimed = after.handed();
    if (claimed === null) throw new Error('expected the next event to be claimed ahead');
    return { second, claimed };
  }

  /**
   * The first statement recording outcomes and claims that `matches` (by how many of each it
   * carries) commits, and its answer is lost: the caller gets an error. `lost` lists what that
   * statement claimed; `steps` is the spy, to restore.
   */
  function answerLostOnce(matches: (outcomes: number, claims: number) => boolean) {
    const write = deliveries.recordAttemptsAndClaimFirst.bind(deliveries);
    const lost: string[][] = [];
    const steps = jest
      .spyOn(deliveries, 'recordAttemptsAndClaimFirst')
      .mockImplementation(async (...args) => {
        const claimed = await write(...args);
        if (lost.length === 0 && matches(args[0].length, args[1].length)) {
          lost.push(claimed.map((delivery) => delivery.id));
          throw new Error('Connection terminated unexpectedly');
        }
        return claimed;
      });
    return { lost, steps };
  }

  it('sends in order, claiming each delivery after the first with the outcome before it', async () => {
    const accountId = await accountWith(3, '/order');
    const event = await storedEvent(accountId);
    const claimsAlone = jest.spyOn(deliveries, 'claimFirstAttempts');
    const steps = jest.spyOn(deliveries, 'recordAttemptsAndClaimFirst');
    try {
      expect(await deliverEvent.attemptInOrder(event, () => true)).toBe(true);
      // The first delivery had nothing to ride with; the two others rode with an outcome.
      expect(claimsAlone.mock.calls.map(([ids]) => ids)).toEqual([[event.deliveryIds[0]]]);
      const shared = steps.mock.calls.filter(([outcomes, ids]) => outcomes.length && ids.length);
      expect(shared.map(([outcomes, ids]) => [outcomes[0].delivery.id, ids[0]])).toEqual([
        [event.deliveryIds[0], event.deliveryIds[1]],
        [event.deliveryIds[1], event.deliveryIds[2]],
      ]);
    } finally {
      claimsAlone.mockRestore();
      steps.mockRestore();
    }
    expect(
      receiver.requests.filter((r) => r.path.startsWith('/order/')).map((r) => r.path),
    ).toEqual(['/order/0', '/order/1', '/order/2']);
    for (const id of event.deliveryIds) {
      expect(await rowOf(id)).toEqual({ status: 'succeeded', claim_token: null, attempts: 1 });
    }
  });

  it("hands the claim of the lane's next event over, which then sends it without claiming again", async () => {
    const { second, claimed } = await secondClaimedAhead('/next');
    expect(claimed.delivery.id).toBe(second.deliveryIds[0]);
    expect(await rowOf(second.deliveryIds[0])).toMatchObject({ status: 'delivering', attempts: 0 });

    const claimsAlone = jest.spyOn(deliveries, 'claimFirstAttempts');
    try {
      expect(await deliverEvent.attemptInOrder({ ...second, held: claimed }, () => true)).toBe(
        true,
      );
      expect(claimsAlone).not.toHaveBeenCalled();
    } finally {
      claimsAlone.mockRestore();
    }
    expect(await rowOf(second.deliveryIds[0])).toEqual({
      status: 'succeeded',
      claim_token: null,
      attempts: 1,
    });
    expect(receiver.requests.filter((r) => r.path === '/next/0')).toHaveLength(2);
  });

  it('gives a claim made ahead back when the event stops being the lane’s before using it', async () => {
    const accountId = await accountWith(2, '/stop');
    const event = await storedEvent(accountId);
    // Lost right after the first outcome (and the claim of the next delivery with it) is stored.
    const lane = loseOwnershipAfterFirstOutcome(deliveries);
    try {
      expect(await deliverEvent.attemptInOrder(event, lane.owned)).toBe(false);
      expect(lane.sharedCalls()).toBeGreaterThan(0);
    } finally {
      lane.restore();
    }
    expect(await rowOf(event.deliveryIds[0])).toMatchObject({ status: 'succeeded' });
    // Back to waiting for its lane, unsent: the next owner need not wait out a lease.
    expect(await rowOf(event.deliveryIds[1])).toEqual({
      status: 'pending',
      claim_token: null,
      attempts: 0,
    });
    expect(receiver.requests.filter((r) => r.path.startsWith('/stop/'))).toHaveLength(1);
  });

  it('discards unsent the claim made ahead by the statement whose outcome disabled their webhook', async () => {
    const accountId = await accountWith(1, '/dying');
    receiver.reply('/dying/0', () => ({ status: 500 }));
    // Failing for an hour: one failure more disables it.
    await dataSource.query(
      `UPDATE webhooks SET failing_since = now() - interval '1 hour', consecutive_failures = 50
       WHERE account_id = $1`,
      [accountId],
    );
    const [first, second] = [await storedEvent(accountId), await storedEvent(accountId)];
    const config = loadConfig(
      testEnvironment(
        {
          DATABASE_URL: isolated.database.url,
          FAILING_WEBHOOK_DISABLE_AFTER_SECONDS: '1',
          FAILING_WEBHOOK_MIN_ATTEMPTS: '1',
        },
        'direct',
      ),
    );
    const strict = new DeliverEventUseCase(
      deliveries,
      new AttemptDeliveryUseCase(deliveries, client, config, new DeliveryObserver()),
    );
    const after = handingOver(second.deliveryIds[0]);
    expect(await strict.attemptInOrder(first, () => true, undefined, after)).toBe(true);
    const [{ enabled }] = await dataSource.query(
      `SELECT enabled FROM webhooks WHERE account_id = $1`,
      [accountId],
    );
    expect(enabled).toBe(false);
    const claimed = after.handed();
    if (claimed === null) throw new Error('expected the next event to be claimed ahead');
    expect(claimed.delivery.webhook.active).toBe(false);

    expect(await strict.attemptInOrder({ ...second, held: claimed }, () => true)).toBe(true);
    expect(receiver.requests.filter((r) => r.path === '/dying/0')).toHaveLength(1);
    expect(await rowOf(second.deliveryIds[0])).toEqual({
      status: 'discarded',
      claim_token: null,
      attempts: 0,
    });
  });

  it('gives back the claim made ahead by a statement whose answer was lost, and goes on at once', async () => {
    const accountId = await accountWith(2, '/lost');
    const event = await storedEvent(accountId);
    // The outcome and the claim of the next delivery commit, and the answer never arrives.
    const { lost, steps } = answerLostOnce((outcomes, ids) => outcomes > 0 && ids > 0);
    const started = Date.now();
    try {
      expect(await deliverEvent.attemptInOrder(event, () => true)).toBe(true);
    } finally {
      steps.mockRestore();
    }
    // The lost statement did claim the second delivery.
    expect(lost).toEqual([[event.deliveryIds[1]]]);
    // Not the lease of the lost claim (the 3 s timeout and 30 s) waited out: given back.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(receiver.requests.filter((r) => r.path.startsWith('/lost/')).map((r) => r.path)).toEqual(
      ['/lost/0', '/lost/1'],
    );
    for (const id of event.deliveryIds) {
      expect(await rowOf(id)).toEqual({ status: 'succeeded', claim_token: null, attempts: 1 });
    }
  }, 60_000);

  it('gives back a claim whose statement answered nothing, so the lane tries again at once', async () => {
    const accountId = await accountWith(1, '/unanswered');
    const event = await storedEvent(accountId);
    // The claim alone commits, and its answer never arrives.
    const { lost, steps } = answerLostOnce((outcomes) => outcomes === 0);
    try {
      await expect(deliverEvent.attemptInOrder(event, () => true)).rejects.toThrow(
        'Connection terminated',
      );
      expect(lost).toEqual([event.deliveryIds]);
      expect(await rowOf(event.deliveryIds[0])).toEqual({
        status: 'pending',
        claim_token: null,
        attempts: 0,
      });
      // The lane's next try (the dispatcher's, after its backoff) claims it at once.
      const started = Date.now();
      expect(await deliverEvent.attemptInOrder(event, () => true)).toBe(true);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      steps.mockRestore();
    }
    expect(receiver.requests.filter((r) => r.path === '/unanswered/0')).toHaveLength(1);
  }, 60_000);

  it.each([
    ['a claim slot', 'claim'],
    ['a send slot', 'send'],
  ] as const)(
    'gives a held claim back as soon as the event stops being the lane’s while it waits for %s',
    async (_, gate) => {
      const { second, claimed } = await secondClaimedAhead(`/queued-${gate}`);
      // The only slot of the gate is taken (by a request hanging on another receiver, say).
      const slots = pLimit(1);
      let free = () => {};
      const taken = slots(() => new Promise<void>((resolve) => (free = resolve)));
      const gated: Slot = (work) => slots(work);
      const open: Slot = (work) => work();
      let owned = true;
      const lane = deliverEvent.attemptInOrder({ ...second, held: claimed }, () => owned, {
        claim: gate === 'claim' ? gated : open,
        send: gate === 'send' ? gated : open,
      });
      try {
        // Left alone while the lane owns the event (the checks run every 200 ms).
        await sleep(500);
        expect(await rowOf(second.deliveryIds[0])).toMatchObject({ status: 'delivering' });
        owned = false;
        // Back for the event's next owner well before the slot frees.
        await eventually(
          async () =>
            expect(await rowOf(second.deliveryIds[0])).toEqual({
              status: 'pending',
              claim_token: null,
              attempts: 0,
            }),
          { timeoutMs: 3000 },
        );
      } finally {
        free();
        await taken;
      }
      // Not made here: the event is not finished (its message is read again by its next owner).
      expect(await lane).toBe(false);
      expect(receiver.requests.filter((r) => r.path === `/queued-${gate}/0`)).toHaveLength(1);
    },
  );

  it('waits, when asked, for a claim given back while its lane waited, even after the lane ended', async () => {
    const { second, claimed } = await secondClaimedAhead('/given-back-late');
    // The give-back will wait for this lock: as a slow statement would, at shutdown.
    const locker = dataSource.createQueryRunner();
    await locker.connect();
    await locker.startTransaction();
    await locker.query('SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE', [claimed.delivery.id]);
    const release = jest.spyOn(deliveries, 'releaseUnattempted');
    const slots = pLimit(1);
    let free = () => {};
    const taken = slots(() => new Promise<void>((resolve) => (free = resolve)));
    let owned = true;
    const lane = deliverEvent.attemptInOrder({ ...second, held: claimed }, () => owned, {
      claim: (work) => work(),
      send: (work) => slots(work),
    });
    let waited = false;
    try {
      owned = false;
      await eventually(async () => expect(release).toHaveBeenCalled(), { timeoutMs: 3000 });
      free();
      await taken;
      // The lane is over (the event is its next owner's); its claim is still on its way back.
      expect(await lane).toBe(false);
      const givenBack = deliverEvent.claimsGivenBack().then(() => {
        waited = true;
      });
      await sleep(300);
      expect(waited).toBe(false);
      expect(await rowOf(second.deliveryIds[0])).toMatchObject({ status: 'delivering' });
      await locker.commitTransaction();
      await givenBack;
      expect(await rowOf(second.deliveryIds[0])).toEqual({
        status: 'pending',
        claim_token: null,
        attempts: 0,
      });
    } finally {
      release.mockRestore();
      if (locker.isTransactionActive) await locker.rollbackTransaction();
      await locker.release();
      free();
      await lane.catch(() => false);
      await deliverEvent.claimsGivenBack();
    }
  }, 30_000);
});
