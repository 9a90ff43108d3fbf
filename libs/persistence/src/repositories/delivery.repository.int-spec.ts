import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  IsolatedDeliveries,
  openIsolatedDeliveries,
  uniqueAccountId,
  insertTestWebhook,
  testIncomingEvent,
} from '@libs/testing';
import { AttemptRecord, DeliveryRepository } from './delivery.repository';

/** A scheduled attempt the receiver answered with `status` and `body`. */
function answered(status: number, body: string): AttemptRecord {
  return {
    trigger: 'scheduled',
    startedAt: new Date(),
    durationMs: 5,
    responseStatus: status,
    responseBody: body,
    error: status >= 200 && status < 300 ? null : `HTTP ${status}`,
  };
}

describe('DeliveryRepository on a real Postgres', () => {
  let isolated: IsolatedDeliveries;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;
  let webhookIds: string[];
  const accountId = uniqueAccountId('repo');

  const newEvent = () => testIncomingEvent(accountId);
  const statusOf = async (id: string): Promise<string> =>
    (await dataSource.query(`SELECT status FROM deliveries WHERE id = $1`, [id]))[0].status;

  beforeAll(async () => {
    isolated = await openIsolatedDeliveries(4);
    ({ dataSource, deliveries } = isolated);
    webhookIds = [await insertWebhook(accountId), await insertWebhook(accountId)];
  });

  const insertWebhook = (owner: string) => insertTestWebhook(dataSource, owner);

  afterAll(async () => {
    await isolated?.close();
  });

  it('stores an event and its deliveries once, however often the message is read', async () => {
    const event = newEvent();
    const first = await deliveries.recordEvent(event, webhookIds);
    const again = await deliveries.recordEvent(event, webhookIds);
    expect(first).toHaveLength(2);
    expect(again).toEqual(first);
    const [{ count }] = await dataSource.query(
      `SELECT count(*)::int AS count FROM deliveries WHERE event_id = $1`,
      [event.id],
    );
    expect(count).toBe(2);
  });

  it('lets only one worker claim a delivery at a time', async () => {
    const [id] = await deliveries.recordEvent(newEvent(), webhookIds);
    const claims = await Promise.all(
      Array.from({ length: 5 }, () => deliveries.claimFirstAttempt(id, 60_000)),
    );
    expect(claims.filter((claim) => claim !== null)).toHaveLength(1);
    const claimed = claims.find((claim) => claim !== null);
    expect(claimed).toMatchObject({ id, attemptNumber: 1, accountId, body: '{"hello":"world"}' });
    expect(claimed?.webhook.secrets).toEqual(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
    expect(await statusOf(id)).toBe('delivering');
  });

  it('hands a delivery over once its lease has run out (the worker died mid-attempt)', async () => {
    const [id] = await deliveries.recordEvent(newEvent(), webhookIds);
    expect(await deliveries.claimFirstAttempt(id, 1)).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await deliveries.claimFirstAttempt(id, 60_000)).toMatchObject({
      id,
      attemptNumber: 1,
    });
  });

  it('records the attempt and the outcome together; a finished delivery is not claimed again', async () => {
    const event = newEvent();
    const [id] = await deliveries.recordEvent(event, webhookIds);
    const claimed = await deliveries.claimFirstAttempt(id, 60_000);
    if (claimed === null) throw new Error('expected to claim the delivery');
    await deliveries.recordAttempt(
      claimed,
      answered(200, 'ok'),
      { status: 'succeeded' },
      { failingForMs: 60_000, minFailures: 3 },
    );
    expect(await statusOf(id)).toBe('succeeded');
    expect(await deliveries.claimFirstAttempt(id, 60_000)).toBeNull();
    expect(await deliveries.recordEvent(event, webhookIds)).not.toContain(id);
    const attempts = await dataSource.query(
      `SELECT number, response_status, response_body FROM delivery_attempts WHERE delivery_id = $1`,
      [id],
    );
    expect(attempts).toEqual([{ number: 1, response_status: 200, response_body: 'ok' }]);
  });

  it('records outcomes and claims other first attempts in one call, each as it would alone', async () => {
    const policy = { failingForMs: 60_000, minFailures: 100 };
    const [done] = await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1));
    const events = [newEvent(), newEvent(), newEvent()];
    const [next, later, finished] = [
      ...(await deliveries.recordEvent(events[0], webhookIds.slice(0, 1))),
      ...(await deliveries.recordEvent(events[1], webhookIds.slice(0, 1))),
      ...(await deliveries.recordEvent(events[2], webhookIds.slice(0, 1))),
    ];
    await dataSource.query(`UPDATE deliveries SET status = 'succeeded' WHERE id = $1`, [finished]);
    const claimed = await deliveries.claimFirstAttempt(done, 60_000);
    if (claimed === null) throw new Error('expected to claim the delivery');

    const taken = await deliveries.recordAttemptsAndClaimFirst(
      [{ delivery: claimed, attempt: answered(200, 'ok'), transition: { status: 'succeeded' } }],
      [next, finished, later],
      60_000,
      policy,
    );

    expect(await statusOf(done)).toBe('succeeded');
    expect(
      await dataSource.query(`SELECT response_body FROM delivery_attempts WHERE delivery_id = $1`, [
        done,
      ]),
    ).toEqual([{ response_body: 'ok' }]);
    expect(taken.map((delivery) => delivery.id).sort()).toEqual([next, later].sort());
    expect(await statusOf(finished)).toBe('succeeded');
    for (const delivery of taken) {
      expect(await statusOf(delivery.id)).toBe('delivering');
      expect(delivery).toMatchObject({ attemptNumber: 1, trigger: 'scheduled' });
      expect(delivery.webhook).toMatchObject({ id: webhookIds[0], active: true });
      const event = events[delivery.id === next ? 0 : 1];
      expect(delivery).toMatchObject({ eventId: event.id, body: event.body });
    }
    // The claims are real ones: their outcomes are recorded with them.
    await deliveries.recordAttemptsAndClaimFirst(
      taken.map((delivery) => ({
        delivery,
        attempt: answered(200, 'ok'),
        transition: { status: 'succeeded' as const },
      })),
      [],
      60_000,
      policy,
    );
    expect([await statusOf(next), await statusOf(later)]).toEqual(['succeeded', 'succeeded']);
  });

  it('disables a failing webhook when its outcome shares a call with claims, and marks their claims of it not live', async () => {
    const webhookId = await insertWebhook(accountId);
    const [failing] = await deliveries.recordEvent(newEvent(), [webhookId]);
    const [next] = await deliveries.recordEvent(newEvent(), [webhookId]);
    const [gone] = await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1));
    await dataSource.query(`UPDATE deliveries SET status = 'failed' WHERE id = $1`, [gone]);
    const claimed = await deliveries.claimFirstAttempt(failing, 60_000);
    if (claimed === null) throw new Error('expected to claim the delivery');

    const taken = await deliveries.recordAttemptsAndClaimFirst(
      [
        {
          delivery: claimed,
          attempt: answered(500, 'down'),
          transition: { status: 'retrying', nextAttemptAt: new Date(Date.now() + 60_000) },
        },
      ],
      [gone, next],
      60_000,
      { failingForMs: 0, minFailures: 1 },
    );

    const [webhook] = await dataSource.query(
      `SELECT enabled, disabled_reason, consecutive_failures FROM webhooks WHERE id = $1`,
      [webhookId],
    );
    expect(webhook).toMatchObject({ enabled: false, consecutive_failures: 1 });
    expect(webhook.disabled_reason).toMatch(/without a success \(1 failed attempts\)/);
    expect(await statusOf(failing)).toBe('discarded');
    expect(await statusOf(gone)).toBe('failed');
    // Claimed in the statement that made the webhook fail for good, before the disable:
    // handed over as not live, so it is discarded unsent.
    expect(taken.map((delivery) => [delivery.id, delivery.webhook.active])).toEqual([
      [next, false],
    ]);
  });

  it('records outcomes and claims in one call whose claims take nothing at all', async () => {
    const [done] = await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1));
    const claimed = await deliveries.claimFirstAttempt(done, 60_000);
    if (claimed === null) throw new Error('expected to claim the delivery');
    const taken = await deliveries.recordAttemptsAndClaimFirst(
      [{ delivery: claimed, attempt: answered(200, 'ok'), transition: { status: 'succeeded' } }],
      [randomUUID()],
      60_000,
      { failingForMs: 60_000, minFailures: 100 },
    );
    expect(taken).toEqual([]);
    expect(await statusOf(done)).toBe('succeeded');
  });

  it('hands each due retry to exactly one of several polling workers', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 6; index += 1) {
      const [id] = await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1));
      ids.push(id);
    }
    await dataSource.query(
      `UPDATE deliveries SET status = 'retrying', next_attempt_at = now() - interval '1 second'
       WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    // Asked for none, a poll takes none (the scheduler asks for what its free slots allow).
    expect(await deliveries.claimDueRetries(0, 60_000)).toEqual([]);
    const polls = await Promise.all(
      Array.from({ length: 4 }, () => deliveries.claimDueRetries(3, 60_000)),
    );
    const claimed = polls.flat().map((delivery) => delivery.id);
    expect(claimed.sort()).toEqual([...ids].sort());
    expect(polls.flat().every((delivery) => delivery.trigger === 'scheduled')).toBe(true);
  });

  it('disables a webhook failing for too long without a success, discarding what waits', async () => {
    const [failing, waiting] = (
      await Promise.all([
        deliveries.recordEvent(newEvent(), webhookIds.slice(1)),
        deliveries.recordEvent(newEvent(), webhookIds.slice(1)),
      ])
    ).map((recorded) => recorded);
    const policy = { failingForMs: 0, minFailures: 2 };
    for (let attempt = 0; attempt < 2; attempt += 1) {
      await dataSource.query(`UPDATE deliveries SET status = 'pending' WHERE id = $1`, [
        failing[0],
      ]);
      const claimed = await deliveries.claimFirstAttempt(failing[0], 60_000);
      if (claimed === null) throw new Error('expected to claim the delivery');
      await deliveries.recordAttempt(
        claimed,
        answered(500, 'down'),
        { status: 'retrying', nextAttemptAt: new Date(Date.now() + 60_000) },
        policy,
      );
    }
    const [webhook] = await dataSource.query(
      `SELECT enabled, disabled_reason, consecutive_failures FROM webhooks WHERE id = $1`,
      [webhookIds[1]],
    );
    expect(webhook).toMatchObject({ enabled: false, consecutive_failures: 2 });
    expect(webhook.disabled_reason).toMatch(/without a success \(2 failed attempts\)/);
    expect(await statusOf(failing[0])).toBe('discarded');
    expect(await statusOf(waiting[0])).toBe('discarded');
  });

  it('stores with the webhooks it chooses itself once, however often read, the same for two readers at once', async () => {
    // The worker's statement: the account's live webhooks (both subscribe to `*`), chosen inside it.
    const chooser = `${accountId}-chooser`;
    await insertWebhook(chooser);
    await insertWebhook(chooser);
    const newEvent = () => testIncomingEvent(chooser);
    const event = newEvent();
    const listedTwice = await deliveries.storeEvents([event, event]);
    expect(listedTwice[0]).toHaveLength(2);
    expect(listedTwice[1]).toEqual(listedTwice[0]);
    expect(await deliveries.storeEvents([event])).toEqual([listedTwice[0]]);
    // Read again, listed twice: each listing gets the deliveries once.
    expect(await deliveries.storeEvents([event, event])).toEqual(listedTwice);
    for (let round = 0; round < 5; round += 1) {
      const fresh = newEvent();
      const [[first], [second]] = await Promise.all([
        deliveries.storeEvents([fresh]),
        deliveries.storeEvents([fresh]),
      ]);
      expect(first).toHaveLength(2);
      expect(second).toEqual(first);
    }
  });

  it('claims the first delivery of a new event as it stores it when asked, never of one read again', async () => {
    const claimer = `${accountId}-claimer`;
    const [firstHook, secondHook] = [await insertWebhook(claimer), await insertWebhook(claimer)];
    const [asked, notAsked] = [testIncomingEvent(claimer), testIncomingEvent(claimer)];
    const token = randomUUID();
    const stored = await deliveries.storeEventsClaimingFirst([asked, notAsked], {
      tokens: [token, null],
      leaseMs: 60_000,
    });
    const [ids] = stored.map(({ awaiting }) => awaiting);
    expect(ids).toHaveLength(2);
    expect(stored[1].claimed).toBeNull();
    const claimed = stored[0].claimed;
    // What a claim would have returned: the first delivery, ready to sign and send.
    expect(claimed).toMatchObject({
      id: ids[0],
      claimToken: token,
      eventId: asked.id,
      accountId: claimer,
      trigger: 'scheduled',
      attemptNumber: 1,
      scheduledAttempts: 0,
      previous: { status: 'pending', nextAttemptAt: null },
      body: asked.body,
      webhook: {
        id: firstHook,
        url: 'http://127.0.0.1:9/hook',
        active: true,
        credentialsError: null,
        secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      },
    });
    expect(secondHook).not.toBe(firstHook);
    expect(await statusOf(ids[0])).toBe('delivering');
    expect(await statusOf(ids[1])).toBe('pending');
    // Held: nobody else takes it meanwhile, and the claim's token records its outcome.
    expect(await deliveries.claimFirstAttempt(ids[0], 60_000)).toBeNull();
    expect((await deliveries.leaseHeldUntil(ids[0]))?.getTime()).toBeGreaterThan(
      Date.now() + 50_000,
    );
    await deliveries.recordAttempt(
      claimed!,
      answered(200, 'ok'),
      { status: 'succeeded' },
      { failingForMs: 60_000, minFailures: 3 },
    );
    expect(await statusOf(ids[0])).toBe('succeeded');
    // Read again (asked again): nothing is claimed, what still waits is handed back.
    const [again] = await deliveries.storeEventsClaimingFirst([asked], {
      tokens: [randomUUID()],
      leaseMs: 60_000,
    });
    expect(again).toEqual({ awaiting: [ids[1]], claimed: null });
    expect(await statusOf(ids[1])).toBe('pending');
  });

  it('gives back the claim of a store whose answer was lost when the store is tried again', async () => {
    const event = newEvent();
    const token = randomUUID();
    const claims = { tokens: [token], leaseMs: 60_000 };
    // The first try commits; its caller never hears (a dropped connection) and tries again.
    const [lost] = await deliveries.storeEventsClaimingFirst([event], claims);
    expect(lost.claimed?.claimToken).toBe(token);
    expect(await statusOf(lost.awaiting[0])).toBe('delivering');
    const [retried] = await deliveries.storeEventsClaimingFirst([event], claims);
    // Nobody holds the first attempt now: the lane claims it at once, no lease to wait out.
    expect(retried).toEqual({ awaiting: lost.awaiting, claimed: null });
    expect(await statusOf(lost.awaiting[0])).toBe('pending');
    expect(await deliveries.leaseHeldUntil(lost.awaiting[0])).toBeNull();
    expect(await deliveries.claimFirstAttempt(lost.awaiting[0], 60_000)).toMatchObject({
      id: lost.awaiting[0],
    });
    // Another reader's token gives nothing back: the claim is that lane's.
    const [held] = await deliveries.storeEventsClaimingFirst([newEvent()], {
      tokens: [randomUUID()],
      leaseMs: 60_000,
    });
    await deliveries.releaseUnusedClaims([randomUUID()]);
    expect(await statusOf(held.awaiting[0])).toBe('delivering');
  });

  it("keeps two accounts' events with the same id apart, each with its own deliveries", async () => {
    const event = newEvent();
    const otherAccount = `${accountId}-other`;
    const otherWebhook = await insertWebhook(otherAccount);
    const theirs = await deliveries.recordEvent(
      { ...event, accountId: otherAccount, body: '{"theirs":1}' },
      [otherWebhook],
    );
    const ours = await deliveries.recordEvent(event, webhookIds);
    expect(theirs).toHaveLength(1);
    expect(ours).toHaveLength(2);
    const claimed = await deliveries.claimFirstAttempt(theirs[0], 60_000);
    expect(claimed).toMatchObject({
      eventId: event.id,
      accountId: otherAccount,
      body: '{"theirs":1}',
    });
    const mine = await deliveries.claimFirstAttempt(ours[0], 60_000);
    expect(mine).toMatchObject({ eventId: event.id, accountId, body: event.body });
  });

  it('gives the first attempts to both of two workers storing one event at once, never to neither', async () => {
    for (let round = 0; round < 10; round += 1) {
      const event = newEvent();
      const [first, second] = await Promise.all([
        deliveries.recordEvent(event, webhookIds),
        deliveries.recordEvent(event, webhookIds),
      ]);
      // Whoever lost the race sees the winner's deliveries (a fresh snapshot), so if the
      // winner's partition was taken away meanwhile, the other still owns the first attempts.
      expect(first).toHaveLength(2);
      expect(second).toEqual(first);
    }
  });

  it("leaves a first attempt to the message's consumer: no scheduler takes it, a re-read gets it back", async () => {
    const event = newEvent();
    const awaiting = await deliveries.recordEvent(event, webhookIds);
    expect(await deliveries.claimDueRetries(100, 60_000)).toEqual([]);
    expect(await deliveries.recordEvent(event, webhookIds)).toEqual(awaiting);
    // Read again after its webhooks stopped matching: what waits is still handed back.
    expect(await deliveries.recordEvent(event, [])).toEqual(awaiting);
    await deliveries.claimFirstAttempt(awaiting[0], 60_000);
    // One is under way (its lease protects it, and says until when); the other still waits.
    expect(await deliveries.awaitingFirstAttempt(accountId, event.id)).toEqual(awaiting);
    expect(await deliveries.claimFirstAttempt(awaiting[0], 60_000)).toBeNull();
    const heldUntil = await deliveries.leaseHeldUntil(awaiting[0]);
    expect(heldUntil?.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(await deliveries.leaseHeldUntil(awaiting[1])).toBeNull();
  });

  it('tells a first attempt another holder is claiming right now from one that is done', async () => {
    const [id] = await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1));
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      // Another worker's claim, not committed yet: the row is locked, so ours skips it.
      await runner.query(`SELECT id FROM deliveries WHERE id = $1 FOR UPDATE`, [id]);
      expect(await deliveries.claimFirstAttempt(id, 60_000)).toBeNull();
      expect(await deliveries.leaseHeldUntil(id)).toBeNull();
      // Still waiting, so the lane must look again rather than move on to the next event.
      expect(await deliveries.awaitsAttempt(id)).toBe(true);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    const claimed = await deliveries.claimFirstAttempt(id, 60_000);
    expect(claimed?.id).toBe(id);
    expect(await deliveries.awaitsAttempt(id)).toBe(false);
  });

  it("tells a first attempt whose holder's lease just ran out from one that is done", async () => {
    const [id] = await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1));
    const claimed = await deliveries.claimFirstAttempt(id, 60_000);
    expect(claimed?.id).toBe(id);
    // Its holder died: the lease runs out. It is not under way any more, yet not done: the
    // lane that finds it so must claim it, not move on to the account's next event.
    await dataSource.query(
      `UPDATE deliveries SET lease_expires_at = now() - interval '1 millisecond' WHERE id = $1`,
      [id],
    );
    expect(await deliveries.leaseHeldUntil(id)).toBeNull();
    expect(await deliveries.awaitsAttempt(id)).toBe(true);
    const again = await deliveries.claimFirstAttempt(id, 60_000);
    expect(again?.id).toBe(id);
    expect(await deliveries.awaitsAttempt(id)).toBe(false);
  });

  it('replays a bounded window oldest first, and manual attempts of one webhook take turns with others', async () => {
    const replayAccount = `${accountId}-replay`;
    const [busy, quiet] = [await insertWebhook(replayAccount), await insertWebhook(replayAccount)];
    const since = new Date(Date.now() - 1000);
    const busyIds: string[] = [];
    for (let index = 0; index < 7; index += 1) {
      busyIds.push(
        ...(await deliveries.recordEvent({ ...newEvent(), accountId: replayAccount }, [busy])),
      );
    }
    const [quietId] = await deliveries.recordEvent({ ...newEvent(), accountId: replayAccount }, [
      quiet,
    ]);
    const page = await deliveries.requestReplay(busy, since, null, 5);
    expect(page.queued).toBe(5);
    // The sixth delivery's time to the microsecond: in a millisecond shared with the fifth, a
    // rounded time would make the next page take the fifth again.
    const [sixth] = await dataSource.query(
      `SELECT created_at, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
         AS exact FROM deliveries WHERE id = $1`,
      [busyIds[5]],
    );
    expect(page.nextSince).toBe(sixth.exact);
    expect(new Date(page.nextSince ?? 0).getTime()).toBe(sixth.created_at.getTime());
    const next = page.nextSince ?? '';
    const micros = Number(/\.\d{3}(\d{3})/.exec(next)?.[1] ?? 0);
    expect(await deliveries.requestReplay(busy, new Date(next), null, 5, micros)).toEqual({
      queued: 2,
      nextSince: null,
    });
    expect(await deliveries.requestManualAttempt(quietId)).toBe(true);
    // The quiet webhook's retry was asked for last, yet it comes in the first claim.
    // (One replay call asks for all its deliveries at the same instant: no order among those.)
    const claimed = (await deliveries.claimManualAttempts(3, 60_000, 2)).map((d) => d.id);
    expect(claimed).toContain(quietId);
    expect(claimed.filter((id) => busyIds.slice(0, 5).includes(id))).toHaveLength(2);
  });

  it('ignores the outcome recorded by a worker whose claim was taken over', async () => {
    const [id] = await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1));
    const stale = await deliveries.claimFirstAttempt(id, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const current = await deliveries.claimFirstAttempt(id, 60_000);
    if (stale === null || current === null) throw new Error('expected both claims to succeed');
    const attempt = answered(500, 'late');
    const policy = { failingForMs: 60_000, minFailures: 100 };
    await deliveries.recordAttempt(stale, attempt, { status: 'failed' }, policy);
    expect(await statusOf(id)).toBe('delivering');
    await deliveries.recordAttempt(current, answered(200, 'ok'), { status: 'succeeded' }, policy);
    expect(await statusOf(id)).toBe('succeeded');
    const attempts = await dataSource.query(
      `SELECT response_body FROM delivery_attempts WHERE delivery_id = $1`,
      [id],
    );
    expect(attempts).toEqual([{ response_body: 'ok' }]);
  });
});
