import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AttemptTrigger, DeliveryStatus } from '../entities';

export interface IncomingEvent {
  id: string;
  accountId: string;
  type: string;
  body: string;
  occurredAt: Date;
  kafkaPartition: number | null;
  kafkaOffset: string | null;
}

/** A delivery this worker holds the lease on, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  eventId: string;
  accountId: string;
  attemptNumber: number;
  /** The event's `timestamp`, for the end-to-end latency metric. */
  occurredAt: Date;
  body: string;
  webhook: {
    id: string;
    url: string;
    headers: Record<string, string>;
    secrets: string[];
  };
}

export interface AttemptRecord {
  trigger: AttemptTrigger;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
}

/** What happens to the delivery after an attempt (see the retry policy). */
export type DeliveryTransition =
  | { status: 'succeeded' }
  | { status: 'retrying'; nextAttemptAt: Date }
  | { status: 'failed' }
  | { status: 'discarded'; disableWebhookReason?: string };

/** Which deliveries `claim` may take. */
export type ClaimScope = 'first-attempt' | 'due-retry';

interface ClaimRow {
  id: string;
  event_id: string;
  account_id: string;
  attempt_count: number;
  webhook_id: string;
  url: string;
  headers: Record<string, string>;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  occurred_at: Date;
  body: string;
}

/** The worker's write path: events in, deliveries claimed, attempts recorded. */
@Injectable()
export class DeliveryRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Stores the event and one delivery per subscribed webhook, both idempotently: a
   * message read again after a crash or rebalance adds nothing. Returns the deliveries
   * that still await their first attempt, in webhook order.
   */
  async recordEvent(event: IncomingEvent, webhookIds: string[]): Promise<string[]> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO events (id, account_id, type, body, occurred_at, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO NOTHING`,
        [
          event.id,
          event.accountId,
          event.type,
          event.body,
          event.occurredAt,
          event.kafkaPartition,
          event.kafkaOffset,
        ],
      );
      if (webhookIds.length > 0) {
        await manager.query(
          `INSERT INTO deliveries (id, event_id, webhook_id, account_id, event_type, status, next_attempt_at)
           SELECT gen_random_uuid(), $1, webhook_id, $2, $3, 'pending', now()
           FROM unnest($4::uuid[]) WITH ORDINALITY AS subscribed (webhook_id, position)
           ORDER BY position
           ON CONFLICT (event_id, webhook_id) DO NOTHING`,
          [event.id, event.accountId, event.type, webhookIds],
        );
      }
      const pending: { id: string }[] = await manager.query(
        `SELECT id FROM deliveries
         WHERE event_id = $1 AND account_id = $2 AND status IN ('pending', 'delivering')
         ORDER BY seq`,
        [event.id, event.accountId],
      );
      return pending.map((row) => row.id);
    });
  }

  /**
   * Takes the delivery for one attempt, so no two workers send it at the same time.
   * A `delivering` row whose lease ran out belongs to a worker that died mid-attempt.
   */
  async claim(
    deliveryId: string,
    scope: ClaimScope,
    leaseMs: number,
  ): Promise<ClaimedDelivery | null> {
    const claimable =
      scope === 'first-attempt'
        ? `d.status = 'pending'`
        : `d.status = 'retrying' AND d.next_attempt_at <= now()`;
    const rows: ClaimRow[] = await this.dataSource.query(
      `WITH claimed AS (
         UPDATE deliveries d
         SET status = 'delivering',
             lease_expires_at = now() + make_interval(secs => $2::double precision / 1000),
             updated_at = now()
         WHERE d.id = $1
           AND (${claimable} OR (d.status = 'delivering' AND d.lease_expires_at < now()))
         RETURNING d.id, d.event_id, d.account_id, d.attempt_count, d.webhook_id
       )
       SELECT c.*, w.url, w.headers, w.secret, w.previous_secret, w.previous_secret_expires_at,
              e.occurred_at, e.body
       FROM claimed c
       JOIN webhooks w ON w.id = c.webhook_id
       JOIN events e ON e.id = c.event_id`,
      [deliveryId, leaseMs],
    );
    const row = rows[0];
    return row === undefined ? null : toClaimedDelivery(row);
  }

  /** Records the attempt and moves the delivery on, atomically. */
  async recordAttempt(
    delivery: ClaimedDelivery,
    attempt: AttemptRecord,
    transition: DeliveryTransition,
  ): Promise<void> {
    const nextAttemptAt = transition.status === 'retrying' ? transition.nextAttemptAt : null;
    await this.dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO delivery_attempts
           (id, delivery_id, number, trigger, started_at, duration_ms, response_status,
            response_body, error, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (delivery_id, number) DO NOTHING`,
        [
          randomUUID(),
          delivery.id,
          delivery.attemptNumber,
          attempt.trigger,
          attempt.startedAt,
          attempt.durationMs,
          attempt.responseStatus,
          attempt.responseBody,
          attempt.error,
          nextAttemptAt,
        ],
      );
      await manager.query(
        `UPDATE deliveries
         SET status = $2, attempt_count = GREATEST(attempt_count, $3), next_attempt_at = $4,
             lease_expires_at = NULL, last_response_status = $5, last_error = $6,
             completed_at = CASE WHEN $2 IN ('succeeded', 'failed', 'discarded') THEN now() END,
             updated_at = now()
         WHERE id = $1`,
        [
          delivery.id,
          transition.status satisfies DeliveryStatus,
          delivery.attemptNumber,
          nextAttemptAt,
          attempt.responseStatus,
          attempt.error,
        ],
      );
      if (transition.status === 'discarded' && transition.disableWebhookReason) {
        await disableWebhook(manager, delivery.webhook.id, transition.disableWebhookReason);
      }
    });
  }
}

/** A disabled webhook takes no new deliveries, and those still waiting are discarded. */
async function disableWebhook(manager: EntityManager, webhookId: string, reason: string) {
  await manager.query(
    `UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = now()
     WHERE id = $1 AND enabled`,
    [webhookId, reason],
  );
  await manager.query(
    `UPDATE deliveries
     SET status = 'discarded', next_attempt_at = NULL, completed_at = now(), updated_at = now(),
         last_error = $2
     WHERE webhook_id = $1 AND status IN ('pending', 'retrying')`,
    [webhookId, reason],
  );
}

function toClaimedDelivery(row: ClaimRow): ClaimedDelivery {
  const secrets = [row.secret];
  if (
    row.previous_secret &&
    row.previous_secret_expires_at &&
    row.previous_secret_expires_at > new Date()
  ) {
    secrets.push(row.previous_secret);
  }
  return {
    id: row.id,
    eventId: row.event_id,
    accountId: row.account_id,
    attemptNumber: row.attempt_count + 1,
    occurredAt: row.occurred_at,
    body: row.body,
    webhook: { id: row.webhook_id, url: row.url, headers: row.headers, secrets },
  };
}
