import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { IsolatedDatabase, createIsolatedDatabase, uniqueAccountId } from '@libs/testing';
import { dataSourceOptions } from '../data-source';
import { WebhookEntity } from '../entities';
import { AttemptRecord, DeliveryRepository, IncomingEvent } from './delivery.repository';

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
  let database: IsolatedDatabase;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;
  let webhookIds: string[];
  const accountId = uniqueAccountId('repo');

  const newEvent = (): IncomingEvent => ({
    id: `evt-${randomUUID()}`,
    accountId,
    type: 'user.created',
    body: '{"hello":"world"}',
    occurredAt: new Date(),
    kafkaPartition: 0,
    kafkaOffset: '42',
  });
  const statusOf = async (id: string): Promise<string> =>
    (await dataSource.query(`SELECT status FROM deliveries WHERE id = $1`, [id]))[0].status;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    dataSource = await new DataSource(dataSourceOptions(database.url, 4)).initialize();
    deliveries = new DeliveryRepository(dataSource);
    const webhooks = dataSource.getRepository(WebhookEntity);
    webhookIds = [randomUUID(), randomUUID()];
    for (const id of webhookIds) {
      await webhooks.insert({
        id,
        accountId,
        url: 'http://127.0.0.1:9/hook',
        eventTypes: ['*'],
        description: null,
        headers: {},
        secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        enabled: true,
      });
    }
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('stores an event and its deliveries once, however often the message is read', async () => {
    const event = newEvent();
    const first = (await deliveries.recordEvent(event, webhookIds)).awaitingFirstAttempt;
    const again = (await deliveries.recordEvent(event, webhookIds)).awaitingFirstAttempt;
    expect(first).toHaveLength(2);
    expect(again).toEqual(first);
    const [{ count }] = await dataSource.query(
      `SELECT count(*)::int AS count FROM deliveries WHERE event_id = $1`,
      [event.id],
    );
    expect(count).toBe(2);
  });

  it('lets only one worker claim a delivery at a time', async () => {
    const [id] = (await deliveries.recordEvent(newEvent(), webhookIds)).awaitingFirstAttempt;
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
    const [id] = (await deliveries.recordEvent(newEvent(), webhookIds)).awaitingFirstAttempt;
    expect(await deliveries.claimFirstAttempt(id, 1)).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await deliveries.claimFirstAttempt(id, 60_000)).toMatchObject({
      id,
      attemptNumber: 1,
    });
  });

  it('records the attempt and the outcome together; a finished delivery is not claimed again', async () => {
    const event = newEvent();
    const [id] = (await deliveries.recordEvent(event, webhookIds)).awaitingFirstAttempt;
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
    expect((await deliveries.recordEvent(event, webhookIds)).awaitingFirstAttempt).not.toContain(
      id,
    );
    const attempts = await dataSource.query(
      `SELECT number, response_status, response_body FROM delivery_attempts WHERE delivery_id = $1`,
      [id],
    );
    expect(attempts).toEqual([{ number: 1, response_status: 200, response_body: 'ok' }]);
  });

  it('hands each due retry to exactly one of several polling workers', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 6; index += 1) {
      const [id] = (await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1)))
        .awaitingFirstAttempt;
      ids.push(id);
    }
    await dataSource.query(
      `UPDATE deliveries SET status = 'retrying', next_attempt_at = now() - interval '1 second'
       WHERE id = ANY($1::uuid[])`,
      [ids],
    );
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
    ).map((recorded) => recorded.awaitingFirstAttempt);
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

  it("never attaches an account's webhooks to another account's event with the same id", async () => {
    const event = newEvent();
    await deliveries.recordEvent({ ...event, accountId: 'someone-else' }, []);
    const recorded = await deliveries.recordEvent(event, webhookIds);
    expect(recorded).toEqual({ awaitingFirstAttempt: [], idTakenByAnotherAccount: true });
    const [{ count }] = await dataSource.query(
      `SELECT count(*)::int AS count FROM deliveries WHERE event_id = $1`,
      [event.id],
    );
    expect(count).toBe(0);
  });

  it('parks first attempts for the lane, in order, and lets the scheduler have them once parking ends', async () => {
    const parkedAccount = `${accountId}-parked`;
    const webhookId = randomUUID();
    await dataSource.getRepository(WebhookEntity).insert({
      id: webhookId,
      accountId: parkedAccount,
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['*'],
      description: null,
      headers: {},
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      enabled: true,
    });
    const later = new Date(Date.now() + 60_000);
    const events = [1, 2, 3].map(() => ({ ...newEvent(), accountId: parkedAccount }));
    // The first was read once by a lane (not attempted yet), then read again and parked.
    const [laneOwned] = (await deliveries.recordEvent(events[0], [webhookId])).awaitingFirstAttempt;
    for (const event of events) {
      expect(await deliveries.recordEvent(event, [webhookId], later)).toEqual({
        awaitingFirstAttempt: [],
        idTakenByAnotherAccount: false,
      });
    }
    const parked = await deliveries.parkedFirstAttempts(parkedAccount, 10);
    expect(parked).toHaveLength(3);
    expect(parked[0]).toBe(laneOwned);
    expect(await deliveries.claimDueRetries(100, 60_000)).toEqual([]);

    await deliveries.extendParking(parkedAccount, new Date(Date.now() - 1000));
    expect(await deliveries.parkedFirstAttempts(parkedAccount, 10)).toEqual(parked);
    await dataSource.query(
      `UPDATE deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = ANY($1::uuid[])`,
      [parked],
    );
    const claimed = await deliveries.claimDueRetries(100, 60_000);
    expect(claimed.map((delivery) => delivery.id).sort()).toEqual([...parked].sort());
  });

  it('ignores the outcome recorded by a worker whose claim was taken over', async () => {
    const [id] = (await deliveries.recordEvent(newEvent(), webhookIds.slice(0, 1)))
      .awaitingFirstAttempt;
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
