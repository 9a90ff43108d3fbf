import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  IsolatedDatabase,
  createIsolatedDatabase,
  insertTestWebhook,
  uniqueAccountId,
} from '@libs/testing';
import { dataSourceOptions } from '../data-source';
import { DirectEvent, DirectQueueRepository, LaneLease } from './direct-queue.repository';

const LEASE_MS = 60_000;

describe('DirectQueueRepository on a real Postgres', () => {
  let database: IsolatedDatabase;
  let dataSource: DataSource;
  let queue: DirectQueueRepository;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    dataSource = await new DataSource(dataSourceOptions(database.url, 6)).initialize();
    queue = new DirectQueueRepository(dataSource);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  const eventOf = (accountId: string, id = `evt-${randomUUID()}`): DirectEvent => ({
    id,
    accountId,
    type: 'user.created',
    body: `{"id":"${id}"}`,
    occurredAt: new Date(),
  });

  const insertWebhook = (accountId: string) => insertTestWebhook(dataSource, accountId);

  /** An account with `webhooks` webhooks and its lane holding `events` stored events. */
  const accountWithEvents = async (events: number, webhooks = 1) => {
    const accountId = uniqueAccountId('direct');
    const webhookIds: string[] = [];
    for (let i = 0; i < webhooks; i += 1) webhookIds.push(await insertWebhook(accountId));
    const eventIds: string[] = [];
    for (let i = 0; i < events; i += 1) {
      const event = eventOf(accountId);
      await queue.storeEvent(event, webhookIds);
      eventIds.push(event.id);
    }
    return { accountId, webhookIds, eventIds };
  };

  /** Claims until the account's lane comes up (other tests' lanes are claimed and let go). */
  const claimLaneOf = async (accountId: string, leaseMs = LEASE_MS): Promise<LaneLease> => {
    for (let round = 0; round < 20; round += 1) {
      const claimed = await queue.claimLanes(100, leaseMs);
      const mine = claimed.find((lane) => lane.accountId === accountId);
      for (const other of claimed.filter((lane) => lane !== mine)) {
        await queue.releaseLane(other, [], false);
      }
      if (mine) return mine;
    }
    throw new Error(`the lane of ${accountId} was never claimed`);
  };

  const eventIdsOf = async (deliveryIds: string[]): Promise<string[]> => {
    const rows: { id: string; event_id: string }[] = await dataSource.query(
      `SELECT id, event_id FROM deliveries WHERE id = ANY($1::uuid[])`,
      [deliveryIds],
    );
    const byId = new Map(rows.map((row) => [row.id, row.event_id]));
    return deliveryIds.map((id) => byId.get(id) ?? 'missing');
  };

  it('stores an event, its deliveries and their places in the lane at once, and an id only once', async () => {
    const accountId = uniqueAccountId('direct');
    const webhookIds = [await insertWebhook(accountId), await insertWebhook(accountId)];
    const event = eventOf(accountId);

    const first = await queue.storeEvent(event, webhookIds);
    const again = await queue.storeEvent({ ...event, body: '{"changed":true}' }, webhookIds);
    const next = await queue.storeEvent(eventOf(accountId), webhookIds);

    expect(first).toEqual({ stored: true, deliveries: 2, laneOpened: true });
    expect(again).toEqual({ stored: false, deliveries: 0, laneOpened: false });
    expect(next).toEqual({ stored: true, deliveries: 2, laneOpened: false });
    const [row] = await dataSource.query(
      `SELECT (SELECT body FROM events WHERE account_id = $1 AND id = $2) AS body,
              (SELECT count(*)::int FROM direct_queue WHERE account_id = $1) AS queued,
              (SELECT enqueued::int FROM direct_lanes WHERE account_id = $1) AS enqueued`,
      [accountId, event.id],
    );
    expect(row).toEqual({ body: event.body, queued: 4, enqueued: 2 });
  });

  it('opens no lane for an event nobody subscribed to', async () => {
    const accountId = uniqueAccountId('direct');
    expect(await queue.storeEvent(eventOf(accountId), [])).toEqual({
      stored: true,
      deliveries: 0,
      laneOpened: false,
    });
    const lanes = await dataSource.query(`SELECT 1 FROM direct_lanes WHERE account_id = $1`, [
      accountId,
    ]);
    expect(lanes).toHaveLength(0);
  });

  it('gives a lane its deliveries in the order they were stored, dropping those done', async () => {
    const { accountId, eventIds } = await accountWithEvents(5, 2);
    const lane = await claimLaneOf(accountId);

    const batch = await queue.nextInLane(lane, [], 4);
    expect(await eventIdsOf(batch?.deliveryIds ?? [])).toEqual([
      eventIds[0],
      eventIds[0],
      eventIds[1],
      eventIds[1],
    ]);
    const rest = await queue.nextInLane(lane, batch?.deliveryIds ?? [], 100);
    expect(await eventIdsOf(rest?.deliveryIds ?? [])).toEqual(
      eventIds.slice(2).flatMap((id) => [id, id]),
    );
    const [{ queued }] = await dataSource.query(
      `SELECT count(*)::int AS queued FROM direct_queue WHERE account_id = $1`,
      [accountId],
    );
    expect(queued).toBe(6);
  });

  it('hands each lane to one claimer at a time, and to another once the lease ran out', async () => {
    const accounts = await Promise.all(Array.from({ length: 6 }, () => accountWithEvents(1)));
    const ours = new Set(accounts.map((account) => account.accountId));
    const [a, b] = await Promise.all([queue.claimLanes(100, 300), queue.claimLanes(100, 300)]);
    const claimedA = a.filter((lane) => ours.has(lane.accountId));
    const claimedB = b.filter((lane) => ours.has(lane.accountId));
    expect(claimedA.length + claimedB.length).toBe(6);
    expect(new Set([...claimedA, ...claimedB].map((lane) => lane.accountId)).size).toBe(6);
    expect((await queue.claimLanes(100, LEASE_MS)).filter((l) => ours.has(l.accountId))).toEqual(
      [],
    );

    await new Promise((resolve) => setTimeout(resolve, 400));
    const takenOver = await claimLaneOf(accounts[0].accountId);
    const formerHolder = [...claimedA, ...claimedB].find(
      (lane) => lane.accountId === accounts[0].accountId,
    );
    if (!formerHolder) throw new Error('the lane had no former holder');
    // The former holder can neither read on, close, renew nor give back its successor's lane.
    expect(await queue.nextInLane(formerHolder, [], 10)).toBeNull();
    expect(await queue.renewLanes([formerHolder], LEASE_MS)).toEqual(new Set());
    await queue.releaseLane(formerHolder, [], false);
    expect(await queue.renewLanes([takenOver], LEASE_MS)).toEqual(new Set([accounts[0].accountId]));
    for (const lane of [...claimedA, ...claimedB]) await queue.releaseLane(lane, [], false);
  });

  it('keeps a lane open when the api stored more after the holder found it empty', async () => {
    const { accountId, webhookIds } = await accountWithEvents(1);
    const lane = await claimLaneOf(accountId);
    const first = await queue.nextInLane(lane, [], 10);
    const empty = await queue.nextInLane(lane, first?.deliveryIds ?? [], 10);
    expect(empty?.deliveryIds).toEqual([]);

    const later = eventOf(accountId);
    expect((await queue.storeEvent(later, webhookIds)).laneOpened).toBe(false);
    expect(await queue.closeLane(lane, empty?.enqueued ?? '')).toBe(false);
    const next = await queue.nextInLane(lane, [], 10);
    expect(await eventIdsOf(next?.deliveryIds ?? [])).toEqual([later.id]);

    const drained = await queue.nextInLane(lane, next?.deliveryIds ?? [], 10);
    expect(await queue.closeLane(lane, drained?.enqueued ?? '')).toBe(true);
    expect((await queue.storeEvent(eventOf(accountId), webhookIds)).laneOpened).toBe(true);
  });

  it('keeps a lane open when a store was committing while the holder closed it', async () => {
    const { accountId } = await accountWithEvents(1);
    const lane = await claimLaneOf(accountId);
    const first = await queue.nextInLane(lane, [], 10);
    const empty = await queue.nextInLane(lane, first?.deliveryIds ?? [], 10);

    // An api's statement that has bumped the lane and not committed yet holds its row.
    const api = dataSource.createQueryRunner();
    await api.connect();
    try {
      await api.startTransaction();
      await api.query(
        `INSERT INTO direct_lanes AS l (account_id) VALUES ($1)
         ON CONFLICT (account_id) DO UPDATE SET enqueued = l.enqueued + 1`,
        [accountId],
      );
      const closing = queue.closeLane(lane, empty?.enqueued ?? '');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await api.commitTransaction();
      expect(await closing).toBe(false);
    } finally {
      await api.release();
    }
    expect(await queue.nextInLane(lane, [], 10)).not.toBeNull();
  });

  it('sends a lane that had its turn behind the lanes waiting, and one given back keeps its place', async () => {
    const busy = await accountWithEvents(2);
    const waiting = await accountWithEvents(1);
    const busyLane = await claimLaneOf(busy.accountId);
    await queue.releaseLane(busyLane, [], true);
    // One lane per claim, so the claims come in the order the lanes are handed out.
    const order = async () => {
      const claimed: LaneLease[] = [];
      for (let lane = await queue.claimLanes(1, LEASE_MS); lane.length > 0;) {
        claimed.push(...lane);
        lane = await queue.claimLanes(1, LEASE_MS);
      }
      for (const lane of claimed) await queue.releaseLane(lane, [], false);
      return claimed
        .map((lane) => lane.accountId)
        .filter((id) => id === busy.accountId || id === waiting.accountId);
    };
    expect(await order()).toEqual([waiting.accountId, busy.accountId]);
    // Given back without losing its place (a worker shutting down): still after `waiting`.
    expect(await order()).toEqual([waiting.accountId, busy.accountId]);
  });
});
