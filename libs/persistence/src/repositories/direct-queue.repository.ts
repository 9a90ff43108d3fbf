import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** A direct-mode event as the api accepted it: stored at once, with no Kafka message. */
export interface DirectEvent {
  id: string;
  accountId: string;
  type: string;
  body: string;
  occurredAt: Date;
}

export interface StoredDirectEvent {
  /** False when the account already had an event with this id: nothing was stored. */
  stored: boolean;
  deliveries: number;
  /** The account had no lane waiting: a worker must be told, or it finds it at its next poll. */
  laneOpened: boolean;
}

/** A lane this worker leased: the right to make the account's next first attempts. */
export interface LaneLease {
  accountId: string;
  token: string;
}

export interface LaneBatch {
  /** The account's next deliveries waiting for their first attempt, in order. */
  deliveryIds: string[];
  /** The api's count of additions, as of the same snapshot: what `closeLane` compares. */
  enqueued: string;
}

/**
 * Direct mode's queue (see the DirectDeliveryQueue migration): the api stores an event with
 * its deliveries and queues them on the account's lane in one statement; workers lease lanes
 * and take each account's deliveries in order. Every statement that acts for a lane checks
 * its lease token, so a worker whose lease ran out changes nothing of its successor's.
 * (Statements end in a SELECT: TypeORM answers a bare UPDATE or DELETE with a row count.)
 */
@Injectable()
export class DirectQueueRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Stores the event, a delivery per subscribed webhook and their places in the account's lane,
   * atomically (one statement). The same id again for the account stores nothing.
   */
  async storeEvent(event: DirectEvent, webhookIds: string[]): Promise<StoredDirectEvent> {
    const [row]: { stored: boolean; deliveries: number; lane_opened: boolean }[] =
      await this.dataSource.query(
        `WITH new_event AS (
           INSERT INTO events (id, account_id, type, body, occurred_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (account_id, id) DO NOTHING
           RETURNING id
         ),
         new_deliveries AS (
           INSERT INTO deliveries (id, event_id, webhook_id, account_id, event_type, status)
           SELECT gen_random_uuid(), $1, webhook_id, $2, $3, 'pending'
           FROM unnest($6::uuid[]) WITH ORDINALITY AS subscribed (webhook_id, position)
           WHERE EXISTS (SELECT 1 FROM new_event)
           ORDER BY position
           RETURNING id, seq
         ),
         queued AS (
           INSERT INTO direct_queue (delivery_id, account_id, seq)
           SELECT id, $2, seq FROM new_deliveries
         ),
         lane AS (
           INSERT INTO direct_lanes AS l (account_id)
           SELECT $2 WHERE EXISTS (SELECT 1 FROM new_deliveries)
           ON CONFLICT (account_id) DO UPDATE SET enqueued = l.enqueued + 1
           -- xmax is 0 on a row this statement inserted, set on one it updated.
           RETURNING (xmax = 0) AS opened
         )
         SELECT EXISTS (SELECT 1 FROM new_event) AS stored,
                (SELECT count(*)::int FROM new_deliveries) AS deliveries,
                COALESCE((SELECT opened FROM lane), false) AS lane_opened`,
        [event.id, event.accountId, event.type, event.body, event.occurredAt, webhookIds],
      );
    return { stored: row.stored, deliveries: row.deliveries, laneOpened: row.lane_opened };
  }

  /**
   * Leases up to `limit` lanes nobody holds (or whose holder's lease ran out), those waiting
   * longest first. SKIP LOCKED lets any number of workers claim at once.
   */
  async claimLanes(limit: number, leaseMs: number): Promise<LaneLease[]> {
    const rows: { account_id: string; lease_token: string }[] = await this.dataSource.query(
      `WITH ready AS (
         SELECT account_id FROM direct_lanes
         WHERE lease_token IS NULL OR lease_expires_at < now()
         ORDER BY ready_at
         LIMIT ${Math.max(1, Math.floor(limit))}
         FOR UPDATE SKIP LOCKED
       ),
       leased AS (
         UPDATE direct_lanes l
         SET lease_token = gen_random_uuid(),
             lease_expires_at = now() + make_interval(secs => $1::double precision / 1000)
         FROM ready WHERE l.account_id = ready.account_id
         RETURNING l.account_id, l.lease_token
       )
       SELECT account_id, lease_token FROM leased`,
      [leaseMs],
    );
    return rows.map((row) => ({ accountId: row.account_id, token: row.lease_token }));
  }

  /**
   * Extends the leases still held; returns the accounts whose lease this worker still has
   * (a lane missing from the answer was taken over after its lease ran out).
   */
  async renewLanes(lanes: LaneLease[], leaseMs: number): Promise<Set<string>> {
    if (lanes.length === 0) return new Set();
    const rows: { account_id: string }[] = await this.dataSource.query(
      `WITH renewed AS (
         UPDATE direct_lanes l
         SET lease_expires_at = now() + make_interval(secs => $1::double precision / 1000)
         FROM unnest($2::text[], $3::uuid[]) AS held (account_id, token)
         WHERE l.account_id = held.account_id AND l.lease_token = held.token
         RETURNING l.account_id
       )
       SELECT account_id FROM renewed`,
      [leaseMs, lanes.map((lane) => lane.accountId), lanes.map((lane) => lane.token)],
    );
    return new Set(rows.map((row) => row.account_id));
  }

  /**
   * Drops `done` (deliveries whose first attempt is over) from the queue and reads the lane's
   * next `limit` deliveries. Null when the lease is no longer this worker's.
   */
  async nextInLane(lane: LaneLease, done: string[], limit: number): Promise<LaneBatch | null> {
    const [row]: { enqueued: string | null; ids: string[] }[] = await this.dataSource.query(
      `WITH lane AS (
         SELECT enqueued FROM direct_lanes WHERE account_id = $1 AND lease_token = $2
       ),
       dropped AS (DELETE FROM direct_queue WHERE delivery_id = ANY($3::uuid[]))
       SELECT (SELECT enqueued FROM lane)::text AS enqueued,
              ARRAY(
                SELECT delivery_id FROM direct_queue
                WHERE account_id = $1 AND delivery_id <> ALL($3::uuid[])
                  AND EXISTS (SELECT 1 FROM lane)
                ORDER BY seq LIMIT ${Math.max(1, Math.floor(limit))}
              ) AS ids`,
      [lane.accountId, lane.token, done],
    );
    return row.enqueued === null ? null : { deliveryIds: row.ids, enqueued: row.enqueued };
  }

  /**
   * Ends a lane found empty. False when the api queued more since (`enqueued` moved on), or
   * the lease was lost: the lane stays, and whoever holds it goes on.
   */
  async closeLane(lane: LaneLease, enqueued: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH closed AS (
         DELETE FROM direct_lanes
         WHERE account_id = $1 AND lease_token = $2 AND enqueued = $3::bigint
         RETURNING 1
       )
       SELECT 1 FROM closed`,
      [lane.accountId, lane.token, enqueued],
    );
    return rows.length > 0;
  }

  /**
   * Gives the lane back with work left in it, after dropping `done` from the queue. With
   * `toBackOfLine` it waits behind every lane ready now (a worker taking turns between
   * accounts); otherwise it keeps its place (a worker shutting down).
   */
  async releaseLane(lane: LaneLease, done: string[], toBackOfLine: boolean): Promise<void> {
    await this.dataSource.query(
      `WITH dropped AS (DELETE FROM direct_queue WHERE delivery_id = ANY($3::uuid[]))
       UPDATE direct_lanes
       SET lease_token = NULL, lease_expires_at = NULL,
           ready_at = CASE WHEN $4 THEN now() ELSE ready_at END
       WHERE account_id = $1 AND lease_token = $2`,
      [lane.accountId, lane.token, done, toBackOfLine],
    );
  }

  /** Deliveries of direct-mode events waiting for their first attempt, all accounts together. */
  async depth(): Promise<number> {
    const [row]: { count: number }[] = await this.dataSource.query(
      `SELECT count(*)::int AS count FROM direct_queue`,
    );
    return row.count;
  }
}
