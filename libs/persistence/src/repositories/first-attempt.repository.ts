import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { WebhookCredentials } from '@libs/secrets';
import { PlainQuery, plainQuery } from '../plain-sql';
import {
  AttemptRecord,
  DeliveryRepository,
  DeliveryTransition,
  EndpointFailurePolicy,
  IncomingEvent,
  eventArrays,
  nextAttemptAt,
  openCredentials,
} from './delivery.repository';

/** A live webhook of an account, as a first attempt made before its row needs it. */
export interface LiveWebhook {
  id: string;
  eventTypes: string[];
  url: string;
  headers: Record<string, string>;
  secrets: string[];
  /** Why its credentials could not be opened (nothing may then be sent to it). */
  credentialsError: string | null;
  rateLimitPerS: number | null;
}

/** An account's live webhooks, read in one snapshot with its webhook change counter. */
export interface AccountRouting {
  /** The account's `webhook_versions.version` (0 before its first webhook). */
  version: bigint;
  /** Its live webhooks, in the order their first attempts go. */
  webhooks: LiveWebhook[];
}

/** What `look` tells about one event (or, without an id, one account). */
export interface Looked {
  stored: boolean;
  /** Its account's change counter, in the same snapshot. */
  version: bigint;
}

/** One delivery of an event stored after its first attempt (or while it is under way). */
export interface UnstoredDelivery {
  /** Made by the worker, so that the row it becomes is known before it exists. */
  id: string;
  webhookId: string;
  /**
   * The worker's claim token for it. A row stored while its attempt is under way holds the
   * claim under it; the outcome recorded later with the same token replaces that claim.
   */
  token: string;
  /** Its first attempt's outcome; null when it was not attempted (yet). */
  outcome: { attemptId: string; attempt: AttemptRecord; transition: DeliveryTransition } | null;
  /** Set while its attempt is under way: the row is stored claimed, for this long. */
  leaseMs: number | null;
}

export interface EventWithFirstAttempts {
  event: IncomingEvent;
  deliveries: UnstoredDelivery[];
}

/**
 * The write path of first attempts made before their event is stored (Kafka mode): the
 * worker reads where an event goes from a cache checked against the webhook change counter,
 * sends, and only then stores the event, its deliveries with their outcomes and the attempts,
 * many events in one statement. See docs/design-first-attempt-before-row.md.
 */
@Injectable()
export class FirstAttemptRepository {
  private readonly logger = new Logger(FirstAttemptRepository.name);
  private readonly sql: PlainQuery;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    private readonly credentials: WebhookCredentials,
    private readonly deliveries: DeliveryRepository,
  ) {
    this.sql = plainQuery(dataSource);
  }

  /**
   * For each event, whether it is stored already, and its account's change counter, in one
   * snapshot. An item without an id asks for the counter alone.
   */
  async look(items: { accountId: string; id: string | null }[]): Promise<Looked[]> {
    const rows = await this.sql<{ stored: boolean; version: string }>(
      `SELECT e.id IS NOT NULL AS stored, COALESCE(v.version, 0) AS version
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k (account_id, id, n)
       LEFT JOIN events e ON e.account_id = k.account_id AND e.id = k.id
       LEFT JOIN webhook_versions v ON v.account_id = k.account_id
       ORDER BY k.n`,
      [items.map((item) => item.accountId), items.map((item) => item.id)],
    );
    return rows.map((row) => ({ stored: row.stored, version: BigInt(row.version) }));
  }

  /** The accounts' live webhooks, each with its change counter read in the same snapshot. */
  async routing(accountIds: string[]): Promise<Map<string, AccountRouting>> {
    const rows = await this.sql<WebhookRow>(
      `SELECT a.account_id, COALESCE(v.version, 0) AS version, w.id, w.event_types, w.url,
              w.headers, w.secret, w.previous_secret, w.previous_secret_expires_at,
              w.rate_limit_per_s
       FROM unnest($1::text[]) AS a (account_id)
       LEFT JOIN webhook_versions v ON v.account_id = a.account_id
       LEFT JOIN webhooks w ON w.account_id = a.account_id AND w.enabled AND w.deleted_at IS NULL
       ORDER BY a.account_id, w.created_at, w.id`,
      [accountIds],
    );
    const routing = new Map<string, AccountRouting>();
    for (const row of rows) {
      let account = routing.get(row.account_id);
      if (account === undefined) {
        account = { version: BigInt(row.version), webhooks: [] };
        routing.set(row.account_id, account);
      }
      if (row.id === null) continue;
      const opened = openCredentials({ ...row, webhook_id: row.id }, this.credentials);
      account.webhooks.push({
        id: row.id,
        eventTypes: row.event_types,
        url: row.url,
        headers: opened.headers,
        secrets: opened.secrets,
        credentialsError: opened.error,
        rateLimitPerS: row.rate_limit_per_s,
      });
    }
    return routing;
  }

  /** The event's deliveries waiting for their first attempt, by their stored ids, in order. */
  awaiting(event: IncomingEvent): Promise<string[]> {
    return this.deliveries.awaitingFirstAttempt(event.accountId, event.id);
  }

  /**
   * Stores the events (those stored already are left as they are), their deliveries with the
   * outcomes of their first attempts, the attempts, and the endpoints' health: one statement.
   * A delivery that exists already (another worker stored or attempted the event meanwhile,
   * around a rebalance) keeps its state and gets the attempt appended, except that a delivery
   * nobody attempted takes this outcome, and a success is never undone by this one. Then
   * disables the webhooks that answered 410 Gone, and those the failure policy gives up on.
   */
  async record(
    items: EventWithFirstAttempts[],
    policy: EndpointFailurePolicy,
  ): Promise<{ notDisabled: string[] }> {
    const notDisabled: string[] = [];
    if (items.length === 0) return { notDisabled };
    const events = items.map((item) => item.event);
    const rows = items.flatMap(({ event, deliveries }) =>
      deliveries.map((delivery) => ({ event, delivery })),
    );
    const column = <T>(pick: (row: (typeof rows)[number]) => T): T[] => rows.map(pick);
    const failing = await this.sql<EndpointHealth>(RECORD_FIRST_ATTEMPTS, [
      ...eventArrays(events),
      column(({ delivery }) => delivery.id),
      column(({ event }) => event.id),
      column(({ event }) => event.accountId),
      column(({ event }) => event.type),
      column(({ delivery }) => delivery.webhookId),
      column(({ delivery }) => statusOf(delivery)),
      column(({ delivery }) => delivery.outcome?.attempt.responseStatus ?? null),
      column(({ delivery }) => delivery.outcome?.attempt.startedAt ?? null),
      column(({ delivery }) => delivery.outcome?.attempt.durationMs ?? null),
      column(({ delivery }) => delivery.outcome?.attempt.responseBody ?? null),
      column(({ delivery }) => delivery.outcome?.attempt.error ?? null),
      column(({ delivery }) =>
        delivery.outcome === null ? null : nextAttemptAt(delivery.outcome.transition),
      ),
      column(({ delivery }) => delivery.token),
      column(({ delivery }) => (delivery.outcome === null ? delivery.leaseMs : null)),
      column(({ delivery }) => delivery.outcome?.attemptId ?? null),
    ]);
    // After the commit, and best effort (as the failure policy's disabling): a retry of the
    // items must not fail on what is stored already. Those not disabled are returned.
    for (const { delivery } of rows) {
      const transition = delivery.outcome?.transition;
      if (transition?.status === 'discarded' && transition.disableWebhookReason) {
        await this.deliveries
          .disableWebhookFor(delivery.webhookId, transition.disableWebhookReason)
          .catch((error: unknown) => {
            notDisabled.push(delivery.webhookId);
            this.logger.error(`Disabling gone webhook ${delivery.webhookId}: ${String(error)}`);
          });
      }
    }
    await this.deliveries.disableFailing(failing, policy);
    return { notDisabled };
  }
}

interface WebhookRow {
  version: string;
  account_id: string;
  id: string | null;
  event_types: string[];
  url: string;
  headers: Record<string, string>;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  rate_limit_per_s: number | null;
}

interface EndpointHealth {
  webhook_id: string;
  failing_since: Date | null;
  consecutive_failures: number;
  enabled: boolean;
}

function statusOf(delivery: UnstoredDelivery): string {
  if (delivery.outcome !== null) return delivery.outcome.transition.status;
  return delivery.leaseMs === null ? 'pending' : 'delivering';
}

/**
 * $1-$7 the events; $8-$22 one row per delivery (its outcome's columns null when it was not
 * attempted; its lease set only while its attempt is under way). Deliveries are written in the order given, events in key order (two workers
 * writing the same events wait for each other instead of deadlocking). A delivery row that
 * exists already is merged (see `record`); its attempt gets the next number.
 */
const TAKES = `((d.status = 'pending' AND d.attempt_count = 0)
  OR (d.status = 'delivering' AND d.claim_token = EXCLUDED.claim_token))`;

const RECORD_FIRST_ATTEMPTS = `WITH
  new_events AS (
    INSERT INTO events (id, account_id, type, body, occurred_at, kafka_partition, kafka_offset)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                         $6::int[], $7::bigint[])
    ORDER BY 2, 1
    ON CONFLICT (account_id, id) DO NOTHING
  ),
  input AS (
    SELECT * FROM unnest($8::uuid[], $9::text[], $10::text[], $11::text[], $12::uuid[],
                         $13::text[], $14::int[], $15::timestamptz[], $16::int[], $17::text[],
                         $18::text[], $19::timestamptz[], $20::uuid[], $21::double precision[],
                         $22::uuid[])
      WITH ORDINALITY AS i (delivery_id, event_id, account_id, event_type, webhook_id, status,
                            response_status, started_at, duration_ms, response_body, error,
                            next_attempt_at, claim_token, lease_ms, attempt_id, n)
    -- An attempt recorded already (a try whose answer was lost after it committed): skipped,
    -- so that a retry of the same items changes nothing.
    WHERE i.attempt_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.id = i.attempt_id)
  ),
  made AS (
    INSERT INTO deliveries AS d (id, event_id, webhook_id, account_id, event_type, status,
                                 attempt_count, next_attempt_at, lease_expires_at, claim_token,
                                 last_response_status, last_error, completed_at)
    SELECT i.delivery_id, i.event_id, i.webhook_id, i.account_id, i.event_type, i.status,
           CASE WHEN i.attempt_id IS NULL THEN 0 ELSE 1 END, i.next_attempt_at,
           now() + make_interval(secs => i.lease_ms / 1000),
           -- Kept on a recorded row too: a token only means a claim while 'delivering'.
           i.claim_token,
           i.response_status, i.error,
           CASE WHEN i.status IN ('succeeded', 'failed', 'discarded') THEN now() END
    FROM input i ORDER BY i.n
    ON CONFLICT (event_id, webhook_id) DO UPDATE SET
      -- "takes": this attempt is the delivery's first (nobody attempted it, or it is this
      -- worker's own claim stored while the attempt was under way): its outcome is the state.
      -- Otherwise the attempt is appended, and only a success changes a settled state.
      attempt_count = d.attempt_count + EXCLUDED.attempt_count,
      status = CASE
        WHEN EXCLUDED.attempt_count = 0 THEN d.status
        WHEN ${TAKES} THEN EXCLUDED.status
        WHEN EXCLUDED.status = 'succeeded' AND d.status <> 'delivering' THEN 'succeeded'
        ELSE d.status END,
      next_attempt_at = CASE
        WHEN EXCLUDED.attempt_count = 0 THEN d.next_attempt_at
        WHEN ${TAKES} THEN EXCLUDED.next_attempt_at
        WHEN EXCLUDED.status = 'succeeded' AND d.status <> 'delivering' THEN NULL
        ELSE d.next_attempt_at END,
      completed_at = CASE
        WHEN EXCLUDED.attempt_count = 0 THEN d.completed_at
        WHEN ${TAKES} THEN EXCLUDED.completed_at
        WHEN EXCLUDED.status = 'succeeded' AND d.status <> 'delivering'
          THEN COALESCE(d.completed_at, now())
        ELSE d.completed_at END,
      lease_expires_at = CASE WHEN EXCLUDED.attempt_count > 0 AND ${TAKES} THEN NULL
                              ELSE d.lease_expires_at END,
      last_response_status = COALESCE(EXCLUDED.last_response_status, d.last_response_status),
      last_error = CASE WHEN EXCLUDED.attempt_count = 0 THEN d.last_error ELSE EXCLUDED.last_error END,
      updated_at = now()
    RETURNING d.id, d.event_id, d.webhook_id, d.attempt_count
  ),
  recorded AS (
    INSERT INTO delivery_attempts (id, delivery_id, number, trigger, started_at, duration_ms,
                                   response_status, response_body, error, next_attempt_at)
    SELECT i.attempt_id, m.id, m.attempt_count, 'scheduled', i.started_at, i.duration_ms,
           i.response_status, i.response_body, i.error, i.next_attempt_at
    FROM input i JOIN made m ON m.event_id = i.event_id AND m.webhook_id = i.webhook_id
    WHERE i.attempt_id IS NOT NULL
    -- Any key: a retry racing the try it repeats (its answer lost while it still ran) skips.
    ON CONFLICT DO NOTHING
  ),
  outcomes AS (
    SELECT webhook_id, n, error IS NULL AS succeeded,
           max(n) FILTER (WHERE error IS NULL) OVER (PARTITION BY webhook_id) AS last_success
    FROM input WHERE attempt_id IS NOT NULL
  ),
  per_webhook AS (
    SELECT webhook_id, (array_agg(succeeded ORDER BY n DESC))[1] AS succeeded,
           bool_or(succeeded) AS any_success,
           count(*) FILTER (WHERE NOT succeeded AND n > COALESCE(last_success, 0))::int AS failures
    FROM outcomes GROUP BY webhook_id
  ),
  health AS (
    UPDATE webhooks w
    SET failing_since = CASE WHEN p.succeeded THEN NULL
                             WHEN p.any_success THEN now()
                             ELSE COALESCE(w.failing_since, now()) END,
        consecutive_failures = CASE WHEN p.succeeded THEN 0
                                    WHEN p.any_success THEN p.failures
                                    ELSE w.consecutive_failures + p.failures END,
        last_success_at = CASE WHEN p.any_success THEN now() ELSE w.last_success_at END,
        last_failure_at = CASE WHEN p.succeeded AND p.failures = 0 THEN w.last_failure_at ELSE now() END
    FROM per_webhook p
    WHERE w.id = p.webhook_id
      AND (NOT p.succeeded OR p.failures > 0 OR w.failing_since IS NOT NULL
           OR w.consecutive_failures > 0 OR w.last_success_at IS NULL
           OR w.last_success_at < now() - interval '1 minute')
    RETURNING w.id AS webhook_id, w.failing_since, w.consecutive_failures, w.enabled, p.succeeded
  )
  SELECT webhook_id, failing_since, consecutive_failures, enabled FROM health WHERE NOT succeeded`;
