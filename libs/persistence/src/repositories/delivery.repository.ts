import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { SealedValueError, WebhookCredentials } from '@libs/secrets';
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
  /** Proves the claim is still this worker's when the attempt is recorded. */
  claimToken: string;
  eventId: string;
  accountId: string;
  trigger: AttemptTrigger;
  /** Number of this attempt among all attempts (manual ones included). */
  attemptNumber: number;
  /** Scheduled attempts made before this one: what the retry schedule counts. */
  scheduledAttempts: number;
  /** For a manual attempt: the state to return to when it fails, so the schedule is unchanged. */
  previous: { status: DeliveryStatus; nextAttemptAt: Date | null };
  /** The event's `timestamp`, for the end-to-end latency metric. */
  occurredAt: Date;
  body: string;
  webhook: {
    id: string;
    url: string;
    headers: Record<string, string>;
    secrets: string[];
    /** False once the webhook was disabled or deleted: the delivery is discarded unsent. */
    active: boolean;
    /**
     * Why the secrets or headers could not be decrypted (a key missing from ENCRYPTION_KEYS,
     * a damaged value); `secrets` and `headers` are then empty and nothing may be sent.
     */
    credentialsError: string | null;
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
  | { status: 'pending'; nextAttemptAt: Date | null }
  | { status: 'failed' }
  | { status: 'discarded'; disableWebhookReason?: string };

/** When a failing endpoint is disabled: no success for `failingForMs` and at least `minFailures`. */
export interface EndpointFailurePolicy {
  failingForMs: number;
  minFailures: number;
}

interface ClaimRow {
  id: string;
  claim_token: string;
  event_id: string;
  account_id: string;
  attempt_count: number;
  previous_status: DeliveryStatus;
  previous_next_attempt_at: Date | null;
  webhook_id: string;
  url: string;
  headers: Record<string, string>;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  webhook_active: boolean;
  occurred_at: Date;
  body: string;
  scheduled_attempts: number;
}

const LEASE_EXPIRED = `(d.status = 'delivering' AND d.lease_expires_at < now())`;

/** The worker's write path: events in, deliveries claimed, attempts recorded. */
@Injectable()
export class DeliveryRepository {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly credentials: WebhookCredentials,
  ) {}

  /**
   * Stores the event and one delivery per subscribed webhook, idempotently, and returns the
   * deliveries still waiting for their first attempt, in webhook order: a message read again
   * after a crash or rebalance adds nothing and gets back what its first reading left undone.
   *
   * A delivery waiting for its first attempt (`pending`, no `next_attempt_at`) belongs to
   * whoever consumes its Kafka message: the worker commits past the message only once its
   * first attempts are recorded, so if it dies first, the partition's next owner reads the
   * message again and gets the delivery back here. No scheduler takes it meanwhile.
   */
  async recordEvent(event: IncomingEvent, webhookIds: string[]): Promise<string[]> {
    // One statement, so one round trip and atomic without an explicit transaction.
    const [row]: { is_new: boolean; ids: string[] | null }[] = await this.dataSource.query(
      `WITH new_event AS (
         INSERT INTO events (id, account_id, type, body, occurred_at, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (account_id, id) DO NOTHING
         RETURNING id
       ),
       new_deliveries AS (
         INSERT INTO deliveries (id, event_id, webhook_id, account_id, event_type, status)
         SELECT gen_random_uuid(), $1, webhook_id, $2, $3, 'pending'
         FROM unnest($8::uuid[]) WITH ORDINALITY AS subscribed (webhook_id, position)
         WHERE EXISTS (SELECT 1 FROM new_event)
         ORDER BY position
         RETURNING id, seq
       )
       SELECT EXISTS (SELECT 1 FROM new_event) AS is_new,
              (SELECT array_agg(id ORDER BY seq) FROM new_deliveries) AS ids`,
      [
        event.id,
        event.accountId,
        event.type,
        event.body,
        event.occurredAt,
        event.kafkaPartition,
        event.kafkaOffset,
        webhookIds,
      ],
    );
    if (row.is_new) return row.ids ?? [];
    // The event was there already (read again), or another worker stored it at the same
    // moment (a rebalance overlap): the statement above ran on a snapshot from before that
    // worker's commit, so look again with a fresh one, and take over what is still waiting
    // (whatever the subscriptions are now: those were made when the event was stored).
    return this.awaitingFirstAttempt(event.accountId, event.id);
  }

  /** Throws unless Postgres answers. */
  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }

  /** The event's deliveries still waiting for their first attempt, in the order they were made. */
  async awaitingFirstAttempt(accountId: string, eventId: string): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM deliveries
       WHERE account_id = $1 AND event_id = $2 AND next_attempt_at IS NULL
         AND (status = 'pending' OR (status = 'delivering' AND attempt_count = 0))
       ORDER BY seq`,
      [accountId, eventId],
    );
    return rows.map((row) => row.id);
  }

  /**
   * Takes a delivery for its first attempt, so no two workers send it at the same time.
   * A `delivering` row whose lease ran out belongs to a worker that died mid-attempt.
   */
  async claimFirstAttempt(deliveryId: string, leaseMs: number): Promise<ClaimedDelivery | null> {
    const [claimed] = await this.claim({
      where: `d.id = $2 AND (d.status = 'pending' OR ${LEASE_EXPIRED})`,
      parameters: [deliveryId],
      orderBy: 'd.id',
      limit: 1,
      leaseMs,
      trigger: 'scheduled',
    });
    return claimed ?? null;
  }

  /** When the live lease of a delivery under way ends; null when no attempt holds it. */
  async leaseHeldUntil(deliveryId: string): Promise<Date | null> {
    const rows: { lease_expires_at: Date }[] = await this.dataSource.query(
      `SELECT lease_expires_at FROM deliveries
       WHERE id = $1 AND status = 'delivering' AND lease_expires_at > now()`,
      [deliveryId],
    );
    return rows[0]?.lease_expires_at ?? null;
  }

  /**
   * Takes up to `limit` deliveries whose attempt is due, oldest first: retries, parked first
   * attempts whose lane's worker died, and those left `delivering` by a worker that died.
   * SKIP LOCKED lets any number of workers poll at once. (A `pending` delivery without
   * `next_attempt_at` belongs to the lane that consumed its event, and is not taken here.)
   */
  claimDueRetries(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    return this.claim({
      where: `((d.status IN ('retrying', 'pending') AND d.next_attempt_at <= now()) OR ${LEASE_EXPIRED})`,
      parameters: [],
      // A lease left by a dead worker has no next_attempt_at: it is due since its expiry.
      orderBy: 'COALESCE(d.next_attempt_at, d.lease_expires_at)',
      limit,
      leaseMs,
      trigger: 'scheduled',
    });
  }

  /**
   * Takes up to `limit` deliveries for which a manual attempt was asked (retry or replay),
   * oldest request first but at most `perWebhook` of one webhook per claim, so a replay of
   * thousands of deliveries takes turns with everybody else's manual retries.
   */
  claimManualAttempts(limit: number, leaseMs: number, perWebhook = 2): Promise<ClaimedDelivery[]> {
    return this.claim({
      where: `d.id IN (
         SELECT id FROM (
           SELECT m.id, m.manual_attempt_requested_at AS requested_at,
                  row_number() OVER (PARTITION BY m.webhook_id ORDER BY m.manual_attempt_requested_at) AS turn
           FROM deliveries m
           WHERE m.manual_attempt_requested_at IS NOT NULL AND m.status <> 'delivering'
         ) ranked
         WHERE turn <= ${Math.max(1, Math.floor(perWebhook))}
       ) AND d.manual_attempt_requested_at IS NOT NULL AND d.status <> 'delivering'`,
      parameters: [],
      orderBy: 'd.manual_attempt_requested_at',
      limit,
      leaseMs,
      trigger: 'manual',
    });
  }

  /** Records the attempt, moves the delivery on and updates the endpoint's health, atomically. */
  async recordAttempt(
    delivery: ClaimedDelivery,
    attempt: AttemptRecord,
    transition: DeliveryTransition,
    endpointPolicy: EndpointFailurePolicy,
  ): Promise<void> {
    if (transition.status === 'discarded' && transition.disableWebhookReason) {
      const reason = transition.disableWebhookReason;
      await this.dataSource.transaction(async (manager) => {
        await recordAttemptStatement(manager, delivery, attempt, transition);
        await disableWebhook(manager, delivery.webhook.id, reason);
      });
      return;
    }
    // The common path is one statement: attempt, delivery and endpoint health together.
    const [health] = await recordAttemptStatement(
      this.dataSource.manager,
      delivery,
      attempt,
      transition,
    );
    if (
      health?.enabled &&
      health.failing_since !== null &&
      health.consecutive_failures >= endpointPolicy.minFailures &&
      Date.now() - health.failing_since.getTime() >= endpointPolicy.failingForMs
    ) {
      await this.dataSource.transaction((manager) =>
        disableWebhook(
          manager,
          delivery.webhook.id,
          `failing since ${health.failing_since?.toISOString()} without a success ` +
            `(${health.consecutive_failures} failed attempts)`,
        ),
      );
    }
  }

  /**
   * Asks the workers for one manual attempt of a delivery. False when there is no such
   * delivery, or an attempt of it is under way right now.
   */
  async requestManualAttempt(deliveryId: string): Promise<boolean> {
    const rows: { id: string }[] = await this.dataSource.query(
      `WITH requested AS (
         UPDATE deliveries SET manual_attempt_requested_at = now(), updated_at = now()
         WHERE id = $1 AND status <> 'delivering'
         RETURNING id
       )
       SELECT id FROM requested`,
      [deliveryId],
    );
    return rows.length > 0;
  }

  /**
   * Asks for one more attempt of each delivery of the webhook created in [since, until),
   * oldest first, at most `limit` of them. Returns how many were asked for, and when the
   * window held more, the creation time of the first one left out: where to continue.
   */
  async requestReplay(
    webhookId: string,
    since: Date,
    until: Date | null,
    limit: number,
  ): Promise<{ queued: number; nextSince: Date | null }> {
    const [row]: { queued: number; next_since: Date | null }[] = await this.dataSource.query(
      `WITH window_rows AS (
         SELECT id, created_at, seq FROM deliveries
         WHERE webhook_id = $1 AND created_at >= $2 AND ($3::timestamptz IS NULL OR created_at < $3)
           AND status <> 'delivering'
         ORDER BY created_at, seq
         LIMIT $4 + 1
       ),
       chosen AS (SELECT id FROM window_rows ORDER BY created_at, seq LIMIT $4),
       requested AS (
         UPDATE deliveries d SET manual_attempt_requested_at = now(), updated_at = now()
         FROM chosen WHERE d.id = chosen.id AND d.status <> 'delivering'
         RETURNING 1
       )
       SELECT (SELECT count(*)::int FROM requested) AS queued,
              (SELECT created_at FROM window_rows ORDER BY created_at, seq OFFSET $4 LIMIT 1)
                AS next_since`,
      [webhookId, since, until, limit],
    );
    return { queued: row.queued, nextSince: row.next_since };
  }

  /** Ends a delivery without sending it, for a webhook that was disabled or deleted meanwhile. */
  async discardUnsent(delivery: ClaimedDelivery, reason: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE deliveries
       SET status = 'discarded', next_attempt_at = NULL, lease_expires_at = NULL, claim_token = NULL,
           last_error = $2, completed_at = now(), updated_at = now()
       WHERE id = $1 AND claim_token = $3`,
      [delivery.id, reason, delivery.claimToken],
    );
  }

  private async claim(options: {
    where: string;
    parameters: unknown[];
    orderBy: string;
    limit: number;
    leaseMs: number;
    trigger: AttemptTrigger;
  }): Promise<ClaimedDelivery[]> {
    const rows: ClaimRow[] = await this.dataSource.query(
      `WITH target AS (
         SELECT d.id, d.status AS previous_status, d.next_attempt_at AS previous_next_attempt_at
         FROM deliveries d
         WHERE ${options.where}
         ORDER BY ${options.orderBy}
         LIMIT ${Math.max(1, Math.floor(options.limit))}
         FOR UPDATE SKIP LOCKED
       ),
       claimed AS (
         UPDATE deliveries d
         SET status = 'delivering',
             lease_expires_at = now() + make_interval(secs => $1::double precision / 1000),
             claim_token = gen_random_uuid(),
             manual_attempt_requested_at = ${options.trigger === 'manual' ? 'NULL' : 'd.manual_attempt_requested_at'},
             updated_at = now()
         FROM target t
         WHERE d.id = t.id
         RETURNING d.id, d.event_id, d.account_id, d.attempt_count, d.webhook_id, d.claim_token,
                   t.previous_status, t.previous_next_attempt_at
       )
       SELECT c.*, w.url, w.headers, w.secret, w.previous_secret, w.previous_secret_expires_at,
              (w.enabled AND w.deleted_at IS NULL) AS webhook_active, e.occurred_at, e.body,
              (SELECT count(*)::int FROM delivery_attempts a
               WHERE a.delivery_id = c.id AND a.trigger = 'scheduled') AS scheduled_attempts
       FROM claimed c
       JOIN webhooks w ON w.id = c.webhook_id
       JOIN events e ON e.account_id = c.account_id AND e.id = c.event_id`,
      [options.leaseMs, ...options.parameters],
    );
    return rows.map((row) => toClaimedDelivery(row, options.trigger, this.credentials));
  }
}

function nextAttemptAt(transition: DeliveryTransition): Date | null {
  return transition.status === 'retrying' || transition.status === 'pending'
    ? transition.nextAttemptAt
    : null;
}

interface EndpointHealthRow {
  failing_since: Date | null;
  consecutive_failures: number;
  enabled: boolean;
}

/**
 * Records the attempt, moves the delivery on and updates the endpoint's health in one
 * statement (atomic, one round trip), only while the claim is still ours: a worker that
 * stalled past its lease records nothing over the outcome of the one that took over. Svix-style health: a success ends the failing streak,
 * a failure extends it; `last_success_at` is refreshed at most once a minute, so a busy
 * healthy endpoint does not rewrite its webhook row on every delivery. Returns the health
 * after a failure (for the auto-disable decision), nothing after a success.
 */
function recordAttemptStatement(
  manager: EntityManager,
  delivery: ClaimedDelivery,
  attempt: AttemptRecord,
  transition: DeliveryTransition,
): Promise<EndpointHealthRow[]> {
  const succeeded = attempt.error === null;
  return manager.query(
    `WITH moved AS (
       UPDATE deliveries
       SET status = $11, attempt_count = GREATEST(attempt_count, $3), next_attempt_at = $10,
           lease_expires_at = NULL, claim_token = NULL,
           last_response_status = COALESCE($7, last_response_status), last_error = $9,
           completed_at = CASE WHEN $11 IN ('succeeded', 'failed', 'discarded') THEN now() END,
           updated_at = now()
       WHERE id = $2 AND claim_token = $14
       RETURNING id
     ),
     recorded AS (
       INSERT INTO delivery_attempts
         (id, delivery_id, number, trigger, started_at, duration_ms, response_status,
          response_body, error, next_attempt_at)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM moved
       ON CONFLICT (delivery_id, number) DO NOTHING
     ),
     health AS (
       UPDATE webhooks
       SET failing_since = CASE WHEN $13 THEN NULL ELSE COALESCE(failing_since, now()) END,
           consecutive_failures = CASE WHEN $13 THEN 0 ELSE consecutive_failures + 1 END,
           last_success_at = CASE WHEN $13 THEN now() ELSE last_success_at END,
           last_failure_at = CASE WHEN $13 THEN last_failure_at ELSE now() END
       WHERE id = $12 AND EXISTS (SELECT 1 FROM moved)
         AND (NOT $13 OR failing_since IS NOT NULL OR consecutive_failures > 0
              OR last_success_at IS NULL OR last_success_at < now() - interval '1 minute')
       RETURNING failing_since, consecutive_failures, enabled
     )
     SELECT * FROM health WHERE NOT $13`,
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
      nextAttemptAt(transition),
      transition.status satisfies DeliveryStatus,
      delivery.webhook.id,
      succeeded,
      delivery.claimToken,
    ],
  );
}

/** A disabled webhook takes no new deliveries, and those still waiting are discarded. */
export async function disableWebhook(manager: EntityManager, webhookId: string, reason: string) {
  await manager.query(
    `UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = now()
     WHERE id = $1 AND enabled`,
    [webhookId, reason],
  );
  await discardWaitingDeliveries(manager, webhookId, reason);
}

export async function discardWaitingDeliveries(
  manager: EntityManager,
  webhookId: string,
  reason: string,
): Promise<void> {
  await manager.query(
    `UPDATE deliveries
     SET status = 'discarded', next_attempt_at = NULL, manual_attempt_requested_at = NULL,
         completed_at = now(), updated_at = now(), last_error = $2
     WHERE webhook_id = $1 AND status IN ('pending', 'retrying')`,
    [webhookId, `discarded: ${reason}`],
  );
}

function toClaimedDelivery(
  row: ClaimRow,
  trigger: AttemptTrigger,
  credentials: WebhookCredentials,
): ClaimedDelivery {
  const opened = openCredentials(row, credentials);
  return {
    id: row.id,
    claimToken: row.claim_token,
    eventId: row.event_id,
    accountId: row.account_id,
    trigger,
    attemptNumber: row.attempt_count + 1,
    scheduledAttempts: row.scheduled_attempts,
    previous: { status: row.previous_status, nextAttemptAt: row.previous_next_attempt_at },
    occurredAt: row.occurred_at,
    body: row.body,
    webhook: {
      id: row.webhook_id,
      url: row.url,
      headers: opened.headers,
      secrets: opened.secrets,
      active: row.webhook_active,
      credentialsError: opened.error,
    },
  };
}

/** One row that cannot be decrypted must not fail the whole claim: it is carried as an error. */
function openCredentials(
  row: ClaimRow,
  credentials: WebhookCredentials,
): { secrets: string[]; headers: Record<string, string>; error: string | null } {
  try {
    const opened = credentials.open({
      id: row.webhook_id,
      secret: row.secret,
      previousSecret: row.previous_secret,
      previousSecretExpiresAt: row.previous_secret_expires_at,
      headers: row.headers,
    });
    return { ...opened, error: null };
  } catch (error) {
    if (!(error instanceof SealedValueError)) throw error;
    return { secrets: [], headers: {}, error: error.message };
  }
}
