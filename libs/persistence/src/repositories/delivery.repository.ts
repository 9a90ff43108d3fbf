import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { SealedValueError, WebhookCredentials } from '@libs/secrets';
import { AttemptTrigger, DeliveryStatus } from '../entities';
import { PlainQuery, plainQuery } from '../plain-sql';

/** An event to store, with the webhooks that get a delivery of it. */
export interface EventToRecord {
  event: IncomingEvent;
  webhookIds: string[];
}

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
    /** Requests per second the webhook takes at most; null: no limit. */
    rateLimitPerS: number | null;
  };
}

/** A request for one send to a rate-limited webhook: see `takeRateTokens`. */
export interface RateTokenRequest {
  webhookId: string;
  ratePerS: number;
  burst: number;
}

/** One attempt's outcome, for `recordAttempts`. */
export interface AttemptToRecord {
  delivery: ClaimedDelivery;
  attempt: AttemptRecord;
  transition: DeliveryTransition;
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
  rate_limit_per_s: number | null;
  occurred_at: Date;
  body: string;
  scheduled_attempts: number;
}

/** A refused take asks again after this long at least. */
const MIN_RATE_WAIT_MS = 10;

const LEASE_EXPIRED = `(d.status = 'delivering' AND d.lease_expires_at < now())`;

/** The worker's write path: events in, deliveries claimed, attempts recorded. */
@Injectable()
export class DeliveryRepository {
  private readonly logger = new Logger(DeliveryRepository.name);
  private readonly sql: PlainQuery;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly credentials: WebhookCredentials,
  ) {
    this.sql = plainQuery(dataSource);
  }

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
    const [awaiting] = await this.recordEvents([{ event, webhookIds }]);
    return awaiting;
  }

  /**
   * `recordEvent` for many events in one statement (one round trip, one commit), each with
   * the webhooks it goes to; returns each event's deliveries waiting for their first attempt.
   * An event listed twice is stored once: the later listing gets the same deliveries back.
   */
  async recordEvents(batch: EventToRecord[]): Promise<string[][]> {
    if (batch.length === 0) return [];
    const targets = batch.flatMap(({ webhookIds }, index) =>
      webhookIds.map((webhookId) => ({ index: index + 1, webhookId })),
    );
    const events = batch.map(({ event }) => event);
    const rows: StoredEventRow[] = await this.sql(STORE_GIVEN_TARGETS, [
      ...eventColumns(events, NO_CLAIMS),
      targets.map((target) => target.index),
      targets.map((target) => target.webhookId),
    ]);
    return (await this.storedOf(events, rows)).map(({ awaiting }) => awaiting);
  }

  /**
   * `recordEvents` where each event goes to every live webhook of its account whose
   * `event_types` match its type (`*`, `prefix.*` or the type itself: the rule of
   * `matchesEventType`), chosen in the same statement: one round trip for a batch, and the
   * webhooks are read in the very snapshot the deliveries are written in.
   */
  async storeEvents(events: IncomingEvent[]): Promise<string[][]> {
    const stored = await this.storeEventsClaimingFirst(events, NO_CLAIMS);
    return stored.map(({ awaiting }) => awaiting);
  }

  /**
   * `storeEvents`, where the events given a token in `claims.tokens` have their first delivery
   * claimed as it is made (a lane about to attempt it saves the claim's round trip). Only
   * newly stored events are claimed for: one read again gets its waiting deliveries back
   * unclaimed, as before.
   */
  async storeEventsClaimingFirst(
    events: IncomingEvent[],
    claims: FirstClaims,
  ): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const rows: StoredEventRow[] = await this.sql(
      STORE_SUBSCRIBED_TARGETS,
      eventColumns(events, claims),
    );
    return this.storedOf(events, rows, claims.tokens);
  }

  /**
   * Gives back the first-attempt claims made with these caller-made tokens (by a store, or
   * ahead by an outcome's statement) and not attempted: their deliveries wait for a claim
   * again. For a statement whose outcome its caller never learnt (its answer lost after it
   * committed): whoever attempts the delivery next need not wait out a lease nobody holds.
   */
  async releaseUnusedClaims(tokens: string[]): Promise<void> {
    if (tokens.length === 0) return;
    await this.sql(RELEASE_UNUSED_CLAIMS, [tokens]);
  }

  /** `releaseUnusedClaims` for one claim whose delivery is known: found by its key. */
  async releaseUnusedClaim(deliveryId: string, token: string): Promise<void> {
    await this.sql(`${RELEASE_UNUSED_CLAIMS} AND id = $2`, [[token], deliveryId]);
  }

  /** Each event's deliveries waiting for their first attempt, from what the store returned. */
  private async storedOf(
    events: IncomingEvent[],
    rows: StoredEventRow[],
    tokens: (string | null)[] = [],
  ): Promise<StoredEvent[]> {
    const stored = new Map(rows.map((row) => [eventKey(row.account_id, row.id), row]));
    const results: (StoredEvent | null)[] = events.map((event) => {
      const key = eventKey(event.accountId, event.id);
      const row = stored.get(key);
      stored.delete(key);
      if (row === undefined) return null;
      return { awaiting: row.ids ?? [], claimed: this.claimedAtStore(event, row) };
    });
    // Each event once, however often it is listed (the query returns a row per input row).
    const known = [
      ...new Map(
        events
          .filter((_, index) => results[index] === null)
          .map((event) => [eventKey(event.accountId, event.id), event]),
      ).values(),
    ];
    if (known.length === 0) return results as StoredEvent[];
    // A known event asked for a claim: if an earlier try of this very store committed
    // (its answer lost), that claim is ours and unused; give it back, so it can be claimed.
    await this.releaseUnusedClaims(
      tokens.filter((token, index): token is string => token != null && results[index] === null),
    );
    // Those events were there already (read again), or another worker stored them at the
    // same moment (a rebalance overlap): the statement above ran on a snapshot from before
    // that worker's commit, so look again with a fresh one, and take over what is still
    // waiting (whatever the subscriptions are now: those were made when the event was stored).
    const awaiting = await this.awaitingFirstAttempts(known);
    return results.map(
      (result, index) =>
        result ?? {
          awaiting: awaiting.get(eventKey(events[index].accountId, events[index].id)) ?? [],
          claimed: null,
        },
    );
  }

  /** The delivery the store claimed for the event, if it claimed one. */
  private claimedAtStore(event: IncomingEvent, row: StoredEventRow): ClaimedDelivery | null {
    const claim = row.claimed;
    if (claim === null) return null;
    return toClaimedDelivery(
      {
        ...claim,
        // Built as JSON by the statement: the timestamp arrives as text.
        previous_secret_expires_at:
          claim.previous_secret_expires_at === null
            ? null
            : new Date(claim.previous_secret_expires_at),
        event_id: event.id,
        account_id: event.accountId,
        attempt_count: 0,
        previous_status: 'pending',
        previous_next_attempt_at: null,
        // Chosen among the live webhooks in the statement's own snapshot.
        webhook_active: true,
        occurred_at: event.occurredAt,
        body: event.body,
        scheduled_attempts: 0,
      },
      'scheduled',
      this.credentials,
    );
  }

  /** Throws unless Postgres answers. */
  async ping(): Promise<void> {
    await this.sql('SELECT 1');
  }

  /** The event's deliveries still waiting for their first attempt, in the order they were made. */
  async awaitingFirstAttempt(accountId: string, eventId: string): Promise<string[]> {
    const awaiting = await this.awaitingFirstAttempts([{ accountId, id: eventId }]);
    return awaiting.get(eventKey(accountId, eventId)) ?? [];
  }

  private async awaitingFirstAttempts(
    events: { accountId: string; id: string }[],
  ): Promise<Map<string, string[]>> {
    const rows: { account_id: string; event_id: string; ids: string[] }[] = await this.sql(
      `SELECT d.account_id, d.event_id, array_agg(d.id ORDER BY d.seq) AS ids
         FROM unnest($1::text[], $2::text[]) AS e (account_id, id)
         JOIN deliveries d ON d.account_id = e.account_id AND d.event_id = e.id
         WHERE d.next_attempt_at IS NULL
           AND (d.status = 'pending' OR (d.status = 'delivering' AND d.attempt_count = 0))
         GROUP BY d.account_id, d.event_id`,
      [events.map((event) => event.accountId), events.map((event) => event.id)],
    );
    return new Map(rows.map((row) => [eventKey(row.account_id, row.event_id), row.ids]));
  }

  /**
   * Takes a delivery for its first attempt, so no two workers send it at the same time.
   * A `delivering` row whose lease ran out belongs to a worker that died mid-attempt.
   */
  async claimFirstAttempt(deliveryId: string, leaseMs: number): Promise<ClaimedDelivery | null> {
    const [claimed] = await this.claimFirstAttempts([deliveryId], leaseMs);
    return claimed ?? null;
  }

  /**
   * `claimFirstAttempt` for many deliveries in one statement; returns those it took. A claim
   * is made with the caller's token for its delivery (`tokens`, in the order of the ids) when
   * one is given, so that the caller can give it back should it never learn the answer.
   */
  async claimFirstAttempts(
    deliveryIds: string[],
    leaseMs: number,
    tokens: (string | null)[] = [],
  ): Promise<ClaimedDelivery[]> {
    if (deliveryIds.length === 0) return [];
    const rows = await this.sql<ClaimRow>(CLAIM_FIRST_ATTEMPTS, [
      leaseMs,
      deliveryIds,
      deliveryIds.length,
      tokensOf(deliveryIds, tokens),
    ]);
    return rows.map((row) => toClaimedDelivery(row, 'scheduled', this.credentials));
  }

  /**
   * Whether the delivery still waits for an attempt nobody holds: `pending` (its row may be
   * locked by a claim not committed yet), or a first attempt whose holder's lease has run out
   * (a worker that died before recording it). Either way the claim is to be tried again.
   */
  async awaitsAttempt(deliveryId: string): Promise<boolean> {
    const rows: unknown[] = await this.sql(
      `SELECT 1 FROM deliveries
       WHERE id = $1
         AND (status = 'pending'
              OR (status = 'delivering' AND attempt_count = 0 AND lease_expires_at <= now()))`,
      [deliveryId],
    );
    return rows.length > 0;
  }

  /** Whether the webhook is still enabled and not deleted (false when it is gone). */
  async webhookIsLive(webhookId: string): Promise<boolean> {
    const rows: { live: boolean }[] = await this.sql(
      `SELECT enabled AND deleted_at IS NULL AS live FROM webhooks WHERE id = $1`,
      [webhookId],
    );
    return rows[0]?.live === true;
  }

  /** When the live lease of a delivery under way ends; null when no attempt holds it. */
  async leaseHeldUntil(deliveryId: string): Promise<Date | null> {
    const rows: { lease_expires_at: Date }[] = await this.sql(
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
   * thousands of deliveries takes turns with everybody else's manual retries. A request
   * put off by its webhook's rate limit (`releaseUnattempted`) waits for its time.
   */
  claimManualAttempts(limit: number, leaseMs: number, perWebhook = 2): Promise<ClaimedDelivery[]> {
    return this.claim({
      where: `d.id IN (
         SELECT id FROM (
           SELECT m.id, m.manual_attempt_requested_at AS requested_at,
                  row_number() OVER (PARTITION BY m.webhook_id ORDER BY m.manual_attempt_requested_at) AS turn
           FROM deliveries m
           WHERE m.manual_attempt_requested_at IS NOT NULL AND m.manual_attempt_requested_at <= now()
             AND m.status <> 'delivering'
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
    await this.recordAttempts([{ delivery, attempt, transition }], endpointPolicy);
  }

  /**
   * `recordAttempt` for many attempts: those that do not disable their webhook go in one
   * statement (one round trip, one commit), whose health updates then decide whether a
   * failing webhook is disabled. Each attempt is atomic with its delivery and its endpoint's
   * health; a batch may hold at most one attempt per webhook (a statement updates a row once).
   */
  async recordAttempts(
    batch: AttemptToRecord[],
    endpointPolicy: EndpointFailurePolicy,
  ): Promise<void> {
    const common = await this.recordDisabling(batch);
    if (common.length === 0) return;
    const failing = await this.sql<EndpointHealthRow>(RECORD_ATTEMPTS, recordParameters(common));
    await this.disableFailing(failing, endpointPolicy);
  }

  /**
   * `recordAttempts` and `claimFirstAttempts` in one statement: a lane's outcome and another
   * lane's claim share the round trip and the commit (in a drain, a third of the worker's
   * statements less). The claims may not name a delivery of the batch. Returns what was
   * claimed, as `claimFirstAttempts` does.
   */
  async recordAttemptsAndClaimFirst(
    batch: AttemptToRecord[],
    deliveryIds: string[],
    leaseMs: number,
    endpointPolicy: EndpointFailurePolicy,
    tokens: (string | null)[] = [],
  ): Promise<ClaimedDelivery[]> {
    if (deliveryIds.length === 0) {
      await this.recordAttempts(batch, endpointPolicy);
      return [];
    }
    const common = await this.recordDisabling(batch);
    if (common.length === 0) return this.claimFirstAttempts(deliveryIds, leaseMs, tokens);
    const rows = await this.sql<RecordAndClaimRow>(RECORD_AND_CLAIM_FIRST, [
      leaseMs,
      deliveryIds,
      deliveryIds.length,
      ...recordParameters(common),
      tokensOf(deliveryIds, tokens),
    ]);
    // One row at least (the health part); claim columns are null when nothing was claimed.
    const failing = (rows[0]?.failing ?? []).map((health) => ({
      ...health,
      failing_since: health.failing_since === null ? null : new Date(health.failing_since),
    }));
    const disabled = await this.disableFailing(failing, endpointPolicy);
    return rows
      .filter((row): row is RecordAndClaimRow & ClaimRow => row.id !== null)
      .map((row) =>
        // Read live in the statement's snapshot, disabled right after it: never sent to.
        toClaimedDelivery(
          { ...row, webhook_active: row.webhook_active && !disabled.has(row.webhook_id) },
          'scheduled',
          this.credentials,
        ),
      );
  }

  /**
   * Records the attempts of the batch that disable their webhook, each in a transaction of
   * its own with the disabling; returns the others, in webhook order: two batches touching
   * the same endpoints lock their rows in the same order, so they wait for each other
   * instead of deadlocking.
   */
  private async recordDisabling(batch: AttemptToRecord[]): Promise<AttemptToRecord[]> {
    for (const item of batch) {
      const { delivery, transition } = item;
      if (transition.status === 'discarded' && transition.disableWebhookReason) {
        const reason = transition.disableWebhookReason;
        await this.dataSource.transaction(async (manager) => {
          await manager.query(RECORD_ATTEMPTS, recordParameters([item]));
          await disableWebhook(manager, delivery.webhook.id, reason);
        });
      }
    }
    return batch
      .filter(({ transition }) => !disablesWebhook(transition))
      .sort((a, b) => compare(a.delivery.webhook.id, b.delivery.webhook.id));
  }

  /**
   * Disables the webhooks whose failing streak the policy no longer tolerates; returns their
   * ids. The outcomes that decided it are committed already: a disable that fails is logged,
   * and decided again at the webhook's next failure.
   */
  async disableFailing(
    failing: EndpointHealthRow[],
    endpointPolicy: EndpointFailurePolicy,
  ): Promise<Set<string>> {
    const disabled = new Set<string>();
    for (const health of failing) {
      if (
        health.enabled &&
        health.failing_since !== null &&
        health.consecutive_failures >= endpointPolicy.minFailures &&
        Date.now() - health.failing_since.getTime() >= endpointPolicy.failingForMs
      ) {
        try {
          await this.dataSource.transaction((manager) =>
            disableWebhook(
              manager,
              health.webhook_id,
              `failing since ${health.failing_since?.toISOString()} without a success ` +
                `(${health.consecutive_failures} failed attempts)`,
            ),
          );
          disabled.add(health.webhook_id);
        } catch (error) {
          this.logger.error(`Disabling failing webhook ${health.webhook_id}: ${String(error)}`);
        }
      }
    }
    return disabled;
  }

  /** Disables the webhook and discards its waiting deliveries, in one transaction. */
  async disableWebhookFor(webhookId: string, reason: string): Promise<void> {
    await this.dataSource.transaction((manager) => disableWebhook(manager, webhookId, reason));
  }

  /**
   * Asks the workers for one manual attempt of a delivery. False when there is no such
   * delivery, or an attempt of it is under way right now.
   */
  async requestManualAttempt(deliveryId: string): Promise<boolean> {
    const rows: { id: string }[] = await this.sql(
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
   * window held more, the creation time of the first one left out (RFC 3339, to the
   * microsecond): where to continue.
   */
  async requestReplay(
    webhookId: string,
    since: Date,
    until: Date | null,
    limit: number,
    /** Microseconds past `since`'s millisecond (0-999): a `nextSince` given back is exact. */
    sinceMicros = 0,
  ): Promise<{ queued: number; nextSince: string | null }> {
    const [row]: { queued: number; next_since: string | null }[] = await this.sql(
      `WITH window_rows AS (
         SELECT id, created_at, seq FROM deliveries
         WHERE webhook_id = $1 AND created_at >= $2::timestamptz + $5 * interval '1 microsecond'
           AND ($3::timestamptz IS NULL OR created_at < $3)
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
              -- To the microsecond, as stored: a JavaScript Date would round it down to the
              -- millisecond, and the next call would take the rows of that millisecond again.
              (SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
               FROM window_rows ORDER BY created_at, seq OFFSET $4 LIMIT 1) AS next_since`,
      [webhookId, since, until, limit, sinceMicros],
    );
    return { queued: row.queued, nextSince: row.next_since };
  }

  /** Ends a delivery without sending it, for a webhook that was disabled or deleted meanwhile. */
  async discardUnsent(delivery: ClaimedDelivery, reason: string): Promise<void> {
    await this.sql(
      `UPDATE deliveries
       SET status = 'discarded', next_attempt_at = NULL, lease_expires_at = NULL, claim_token = NULL,
           last_error = $2, completed_at = now(), updated_at = now()
       WHERE id = $1 AND claim_token = $3`,
      [delivery.id, reason, delivery.claimToken],
    );
  }

  /**
   * Takes a token from each webhook's bucket (see the EndpointRateLimits migration): 0 when
   * one was taken and the request may go, else about how many milliseconds until one will be
   * there. At most one request per webhook. A bucket starts full; it is refilled by the time
   * since its last refill times the rate, up to the burst, under the row's lock, so any number
   * of workers taking at once never get more than the burst plus the rate times the time.
   * The time is Postgres' `now()` (the transaction's start): a taker that waited for another's
   * lock counts no time twice (refilled_at never goes back), it only counts a little less.
   */
  async takeRateTokens(requests: RateTokenRequest[]): Promise<number[]> {
    if (requests.length === 0) return [];
    const rows: { webhook_id: string; granted: boolean; wait_ms: number | null }[] = await this.sql(
      `WITH input AS (
           SELECT * FROM unnest($1::uuid[], $2::double precision[], $3::double precision[])
             AS i (webhook_id, rate, burst)
         ),
         taken AS (
           INSERT INTO webhook_rate_tokens AS b (webhook_id, tokens, refilled_at)
           SELECT webhook_id, burst - 1, now() FROM input ORDER BY webhook_id
           ON CONFLICT (webhook_id) DO UPDATE
           SET tokens = LEAST(EXCLUDED.tokens + 1, b.tokens + GREATEST(0, extract(epoch FROM now() - b.refilled_at))
                          * (SELECT rate FROM input WHERE input.webhook_id = b.webhook_id)) - 1,
               refilled_at = GREATEST(b.refilled_at, now())
           WHERE LEAST(EXCLUDED.tokens + 1, b.tokens + GREATEST(0, extract(epoch FROM now() - b.refilled_at))
                   * (SELECT rate FROM input WHERE input.webhook_id = b.webhook_id)) >= 1
           RETURNING b.webhook_id
         )
         -- For a refusal, the wait is reckoned from the bucket as this statement's snapshot
         -- saw it: when another taker got in meanwhile, it comes out short, and the caller
         -- simply asks again.
         SELECT i.webhook_id, t.webhook_id IS NOT NULL AS granted,
                (1 - LEAST(i.burst, b.tokens + GREATEST(0, extract(epoch FROM now() - b.refilled_at)) * i.rate))
                  / i.rate * 1000 AS wait_ms
         FROM input i
         LEFT JOIN taken t ON t.webhook_id = i.webhook_id
         LEFT JOIN webhook_rate_tokens b ON b.webhook_id = i.webhook_id`,
      [
        requests.map((request) => request.webhookId),
        requests.map((request) => request.ratePerS),
        requests.map((request) => request.burst),
      ],
    );
    const waits = new Map(
      rows.map((row) => [
        row.webhook_id,
        row.granted ? 0 : Math.max(MIN_RATE_WAIT_MS, Math.ceil(row.wait_ms ?? 0)),
      ]),
    );
    return requests.map((request) => waits.get(request.webhookId) ?? MIN_RATE_WAIT_MS);
  }

  /**
   * Gives a claimed delivery back unattempted (its webhook's rate limit is reached): it
   * returns to the state the claim found it in, no attempt counted. `retryAt` makes it due
   * again then (the scheduler's claims); without it, a first attempt waiting in its account's
   * lane stays that lane's (`pending` with no `next_attempt_at`), and the lane claims it again.
   * A manual attempt stays asked for, from `retryAt` on.
   */
  async releaseUnattempted(delivery: ClaimedDelivery, retryAt: Date | null): Promise<void> {
    await this.sql(
      `UPDATE deliveries
       SET status = CASE
             WHEN $3::text <> 'delivering' THEN $3::text
             WHEN attempt_count > 0 THEN 'retrying'
             ELSE 'pending'
           END,
           next_attempt_at = CASE WHEN $6 THEN $4::timestamptz ELSE COALESCE($5::timestamptz, $4::timestamptz) END,
           manual_attempt_requested_at = CASE WHEN $6 THEN COALESCE($5::timestamptz, now()) ELSE manual_attempt_requested_at END,
           lease_expires_at = NULL, claim_token = NULL, updated_at = now()
       WHERE id = $1 AND claim_token = $2`,
      [
        delivery.id,
        delivery.claimToken,
        delivery.previous.status,
        delivery.previous.nextAttemptAt,
        retryAt,
        delivery.trigger === 'manual',
      ],
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
    // Asked for none (every slot of the caller is taken): none, not one.
    const limit = Math.floor(options.limit);
    if (!(limit >= 1)) return [];
    const { ctes, select } = claimParts({
      ...options,
      lease: '$1',
      limit: `$${options.parameters.length + 2}`,
    });
    const rows: ClaimRow[] = await this.sql(
      `WITH ${ctes} ${select}`,
      // The limit is a parameter: the statement's text stays the same, so it is prepared once.
      [options.leaseMs, ...options.parameters, limit],
    );
    return rows.map((row) => toClaimedDelivery(row, options.trigger, this.credentials));
  }
}

/** What a store statement did with one event it stored. */
export interface StoredEvent {
  /** Its deliveries waiting for their first attempt, in the order they are to be made. */
  awaiting: string[];
  /** The first of them, claimed by the store when asked to (see `storeEventsClaimingFirst`). */
  claimed: ClaimedDelivery | null;
}

/** Which events of a store get their first delivery claimed, and for how long. */
export interface FirstClaims {
  /**
   * Per event, in the order of the events: the claim token its first delivery is claimed
   * with, or null (missing: null). The caller keeps a token across retries of the same
   * store: a retry after a store that committed unbeknownst to it gives that claim back.
   */
  tokens: (string | null)[];
  leaseMs: number;
}

const NO_CLAIMS: FirstClaims = { tokens: [], leaseMs: 0 };

interface StoredEventRow {
  account_id: string;
  id: string;
  ids: string[] | null;
  claimed: Pick<
    ClaimRow,
    | 'id'
    | 'claim_token'
    | 'webhook_id'
    | 'url'
    | 'headers'
    | 'secret'
    | 'previous_secret'
    | 'previous_secret_expires_at'
    | 'rate_limit_per_s'
  > | null;
}

/** The events' seven columns as arrays (id, account, type, body, time, partition, offset). */
export function eventArrays(events: IncomingEvent[]): unknown[] {
  return [
    events.map((event) => event.id),
    events.map((event) => event.accountId),
    events.map((event) => event.type),
    events.map((event) => event.body),
    events.map((event) => event.occurredAt),
    events.map((event) => event.kafkaPartition),
    events.map((event) => event.kafkaOffset),
  ];
}

/** The events' columns and claims, parameters $1 to $9 of `storeEventsStatement`. */
function eventColumns(events: IncomingEvent[], claims: FirstClaims): unknown[] {
  return [
    ...eventArrays(events),
    events.map((_, index) => claims.tokens[index] ?? null),
    claims.leaseMs,
  ];
}

/** Targets listed by the caller: (event number, webhook id) pairs in $10 and $11, in order. */
const GIVEN_TARGETS = `SELECT t.n, t.webhook_id, t.position
  FROM unnest($10::int[], $11::uuid[]) WITH ORDINALITY AS t (n, webhook_id, position)`;

/**
 * Targets chosen here: the account's live webhooks whose patterns match the event's type,
 * in the order they were created (the order their first attempts are made in).
 */
const SUBSCRIBED_TARGETS = `SELECT f.n, w.id AS webhook_id,
         row_number() OVER (ORDER BY f.n, w.created_at, w.id) AS position
  FROM first_listing f
  -- Only for events stored now: one read again gets nothing new (its deliveries were made).
  JOIN new_events e ON e.account_id = f.account_id AND e.id = f.id
  JOIN webhooks w ON w.account_id = f.account_id AND w.enabled AND w.deleted_at IS NULL
  WHERE EXISTS (
    SELECT 1 FROM unnest(w.event_types) AS p (pattern)
    WHERE p.pattern = '*' OR p.pattern = f.type
       OR (right(p.pattern, 2) = '.*' AND starts_with(f.type, left(p.pattern, -1)))
  )`;

/**
 * Stores events and their deliveries in one statement; see `recordEvents`. Inserted in key
 * order, so two workers storing overlapping batches (a rebalance overlap) wait for each
 * other instead of deadlocking.
 */
function storeEventsStatement(targets: string): string {
  return `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                            $5::timestamptz[], $6::int[], $7::bigint[], $8::uuid[])
         WITH ORDINALITY AS i (id, account_id, type, body, occurred_at, kafka_partition,
                               kafka_offset, claim_token, n)
     ),
     first_listing AS (
       SELECT DISTINCT ON (account_id, id) * FROM input ORDER BY account_id, id, n
     ),
     new_events AS (
       INSERT INTO events (id, account_id, type, body, occurred_at, kafka_partition, kafka_offset)
       SELECT id, account_id, type, body, occurred_at, kafka_partition, kafka_offset
       FROM first_listing ORDER BY account_id, id
       ON CONFLICT (account_id, id) DO NOTHING
       RETURNING account_id, id
     ),
     targets AS (${targets}),
     made AS (
       SELECT f.id, t.webhook_id, f.account_id, f.type, t.position,
              -- The event's first delivery, when a token came with it: claimed as it is made.
              CASE WHEN row_number() OVER (PARTITION BY t.n ORDER BY t.position) = 1
                   THEN f.claim_token END AS claim_token
       FROM targets t
       JOIN first_listing f ON f.n = t.n
       JOIN new_events e ON e.account_id = f.account_id AND e.id = f.id
     ),
     new_deliveries AS (
       INSERT INTO deliveries (id, event_id, webhook_id, account_id, event_type, status,
                               lease_expires_at, claim_token)
       SELECT gen_random_uuid(), m.id, m.webhook_id, m.account_id, m.type,
              CASE WHEN m.claim_token IS NOT NULL THEN 'delivering' ELSE 'pending' END,
              CASE WHEN m.claim_token IS NOT NULL
                   THEN now() + make_interval(secs => $9::double precision / 1000) END,
              m.claim_token
       FROM made m
       ORDER BY m.position
       RETURNING id, account_id, event_id, seq, webhook_id, claim_token
     ),
     grouped AS (
       SELECT account_id, event_id, array_agg(id ORDER BY seq) AS ids
       FROM new_deliveries GROUP BY account_id, event_id
     )
     SELECT e.account_id, e.id, g.ids,
            CASE WHEN c.id IS NOT NULL THEN json_build_object(
              'id', c.id, 'claim_token', c.claim_token, 'webhook_id', c.webhook_id,
              'url', w.url, 'headers', w.headers, 'secret', w.secret,
              'previous_secret', w.previous_secret,
              'previous_secret_expires_at', w.previous_secret_expires_at,
              'rate_limit_per_s', w.rate_limit_per_s) END AS claimed
     FROM new_events e
     LEFT JOIN grouped g ON g.account_id = e.account_id AND g.event_id = e.id
     LEFT JOIN new_deliveries c
       ON c.account_id = e.account_id AND c.event_id = e.id AND c.claim_token IS NOT NULL
     LEFT JOIN webhooks w ON w.id = c.webhook_id`;
}

const STORE_GIVEN_TARGETS = storeEventsStatement(GIVEN_TARGETS);

/** First attempts claimed with a caller's token and not attempted: back to waiting for their lane. */
const RELEASE_UNUSED_CLAIMS = `UPDATE deliveries
  SET status = 'pending', lease_expires_at = NULL, claim_token = NULL, updated_at = now()
  WHERE claim_token = ANY($1::uuid[]) AND status = 'delivering' AND attempt_count = 0`;
const STORE_SUBSCRIBED_TARGETS = storeEventsStatement(SUBSCRIBED_TARGETS);

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function eventKey(accountId: string, eventId: string): string {
  return JSON.stringify([accountId, eventId]);
}

export function nextAttemptAt(transition: DeliveryTransition): Date | null {
  return transition.status === 'retrying' || transition.status === 'pending'
    ? transition.nextAttemptAt
    : null;
}

export interface EndpointHealthRow {
  webhook_id: string;
  failing_since: Date | null;
  consecutive_failures: number;
  enabled: boolean;
}

function disablesWebhook(transition: DeliveryTransition): boolean {
  return transition.status === 'discarded' && transition.disableWebhookReason !== undefined;
}

/**
 * The CTEs that record attempts, move their deliveries on and update their endpoints' health
 * (in one statement: atomic, one round trip), each only while its claim is still ours: a
 * worker that stalled past its lease records nothing over the outcome of the one that took
 * over. Svix-style health: a success ends the failing streak, a failure extends it;
 * `last_success_at` is refreshed at most once a minute, so a busy healthy endpoint does not
 * rewrite its webhook row on every delivery. `health` holds the endpoints' new health (the
 * failing ones decide the auto-disable). `p(n)` is the text of its n-th parameter (1 to 14,
 * `recordParameters`): another statement may carry these CTEs after parameters of its own.
 */
function recordCtes(p: (n: number) => string): string {
  return `input AS (
       SELECT * FROM unnest(${p(1)}::uuid[], ${p(2)}::uuid[], ${p(3)}::int[], ${p(4)}::text[], ${p(5)}::timestamptz[],
                            ${p(6)}::int[], ${p(7)}::int[], ${p(8)}::text[], ${p(9)}::text[], ${p(10)}::timestamptz[],
                            ${p(11)}::text[], ${p(12)}::uuid[], ${p(13)}::boolean[], ${p(14)}::uuid[])
         AS i (attempt_id, delivery_id, number, trigger, started_at, duration_ms,
               response_status, response_body, error, next_attempt_at, status, webhook_id,
               succeeded, claim_token)
     ),
     moved AS (
       UPDATE deliveries d
       SET status = i.status, attempt_count = GREATEST(d.attempt_count, i.number),
           next_attempt_at = i.next_attempt_at, lease_expires_at = NULL, claim_token = NULL,
           last_response_status = COALESCE(i.response_status, d.last_response_status),
           last_error = i.error,
           completed_at = CASE WHEN i.status IN ('succeeded', 'failed', 'discarded') THEN now() END,
           updated_at = now()
       FROM input i
       WHERE d.id = i.delivery_id AND d.claim_token = i.claim_token
       RETURNING d.id
     ),
     recorded AS (
       INSERT INTO delivery_attempts
         (id, delivery_id, number, trigger, started_at, duration_ms, response_status,
          response_body, error, next_attempt_at)
       SELECT i.attempt_id, i.delivery_id, i.number, i.trigger, i.started_at, i.duration_ms,
              i.response_status, i.response_body, i.error, i.next_attempt_at
       FROM input i JOIN moved m ON m.id = i.delivery_id
       ON CONFLICT (delivery_id, number) DO NOTHING
     ),
     health AS (
       UPDATE webhooks w
       SET failing_since = CASE WHEN i.succeeded THEN NULL ELSE COALESCE(w.failing_since, now()) END,
           consecutive_failures = CASE WHEN i.succeeded THEN 0 ELSE w.consecutive_failures + 1 END,
           last_success_at = CASE WHEN i.succeeded THEN now() ELSE w.last_success_at END,
           last_failure_at = CASE WHEN i.succeeded THEN w.last_failure_at ELSE now() END
       FROM input i JOIN moved m ON m.id = i.delivery_id
       WHERE w.id = i.webhook_id
         AND (NOT i.succeeded OR w.failing_since IS NOT NULL OR w.consecutive_failures > 0
              OR w.last_success_at IS NULL OR w.last_success_at < now() - interval '1 minute')
       RETURNING w.id AS webhook_id, w.failing_since, w.consecutive_failures, w.enabled,
                 i.succeeded
     )`;
}

/** The parameters of `recordCtes`, in order. */
function recordParameters(batch: AttemptToRecord[]): unknown[] {
  const column = <T>(pick: (item: AttemptToRecord) => T): T[] => batch.map(pick);
  return [
    column(() => randomUUID()),
    column(({ delivery }) => delivery.id),
    column(({ delivery }) => delivery.attemptNumber),
    column(({ attempt }) => attempt.trigger),
    column(({ attempt }) => attempt.startedAt),
    column(({ attempt }) => attempt.durationMs),
    column(({ attempt }) => attempt.responseStatus),
    column(({ attempt }) => attempt.responseBody),
    column(({ attempt }) => attempt.error),
    column(({ transition }) => nextAttemptAt(transition)),
    column(({ transition }) => transition.status satisfies DeliveryStatus),
    column(({ delivery }) => delivery.webhook.id),
    column(({ attempt }) => attempt.error === null),
    column(({ delivery }) => delivery.claimToken),
  ];
}

const RECORD_ATTEMPTS = `WITH ${recordCtes((n) => `$${n}`)}
  SELECT webhook_id, failing_since, consecutive_failures, enabled FROM health
  WHERE NOT succeeded`;

/** A row of `RECORD_AND_CLAIM_FIRST`: the failing endpoints (JSON), and a claim or nulls. */
type RecordAndClaimRow = (ClaimRow | { id: null }) & {
  failing: (Omit<EndpointHealthRow, 'failing_since'> & { failing_since: string | null })[] | null;
};

/**
 * Which first attempts `claimFirstAttempts` takes, by id ($2) alone: the status test is a
 * CASE, which no index can serve, so the planner cannot pick the status indexes instead
 * (with a backlog, their scan reads every pending row, and stale statistics made it do so
 * on every claim).
 */
const FIRST_ATTEMPTS_BY_ID = {
  where: `d.id = ANY($2::uuid[])
    AND CASE d.status WHEN 'pending' THEN true
                      WHEN 'delivering' THEN d.lease_expires_at < now()
                      ELSE false END`,
  orderBy: 'd.id',
  trigger: 'scheduled',
} as const;

/**
 * The CTEs `target` and `claimed` of a claim (rows chosen by `where`, locked, leased for
 * `lease` milliseconds), and the select of what each claimed delivery needs to be sent.
 */
function claimParts(options: {
  where: string;
  orderBy: string;
  trigger: AttemptTrigger;
  lease: string;
  limit: string;
  /** The claim token of the row `d` (SQL); a fresh random one unless given. */
  token?: string;
}): { ctes: string; select: string } {
  return {
    ctes: `target AS (
         SELECT d.id, d.status AS previous_status, d.next_attempt_at AS previous_next_attempt_at
         FROM deliveries d
         WHERE ${options.where}
         ORDER BY ${options.orderBy}
         LIMIT ${options.limit}::int
         FOR UPDATE SKIP LOCKED
       ),
       claimed AS (
         UPDATE deliveries d
         SET status = 'delivering',
             lease_expires_at = now() + make_interval(secs => ${options.lease}::double precision / 1000),
             claim_token = ${options.token ?? 'gen_random_uuid()'},
             manual_attempt_requested_at = ${options.trigger === 'manual' ? 'NULL' : 'd.manual_attempt_requested_at'},
             updated_at = now()
         FROM target t
         WHERE d.id = t.id
         RETURNING d.id, d.event_id, d.account_id, d.attempt_count, d.webhook_id, d.claim_token,
                   t.previous_status, t.previous_next_attempt_at
       )`,
    select: `SELECT c.*, w.url, w.headers, w.secret, w.previous_secret, w.previous_secret_expires_at,
              (w.enabled AND w.deleted_at IS NULL) AS webhook_active, w.rate_limit_per_s, e.occurred_at, e.body,
              -- No attempt yet (most claims): nothing to count.
              CASE WHEN c.attempt_count = 0 THEN 0
                   ELSE (SELECT count(*)::int FROM delivery_attempts a
                         WHERE a.delivery_id = c.id AND a.trigger = 'scheduled') END
                AS scheduled_attempts
       FROM claimed c
       JOIN webhooks w ON w.id = c.webhook_id
       JOIN events e ON e.account_id = c.account_id AND e.id = c.event_id`,
  };
}

/**
 * A claim's token: the caller's for the row's id when it gave one (`tokens`, an array in the
 * order of the array `ids`), else a random one.
 */
function tokenGiven(ids: string, tokens: string): string {
  return `COALESCE((SELECT k.token FROM unnest(${ids}::uuid[], ${tokens}::uuid[]) AS k (id, token)
                    WHERE k.id = d.id LIMIT 1), gen_random_uuid())`;
}

/** One token or null per id, as `tokenGiven` reads them. */
function tokensOf(deliveryIds: string[], tokens: (string | null)[]): (string | null)[] {
  return deliveryIds.map((_, index) => tokens[index] ?? null);
}

/** `claimFirstAttempts`: $1 lease, $2 ids, $3 limit, $4 tokens. */
const CLAIM_FIRST_ATTEMPTS = (() => {
  const { ctes, select } = claimParts({
    ...FIRST_ATTEMPTS_BY_ID,
    lease: '$1',
    limit: '$3',
    token: tokenGiven('$2', '$4'),
  });
  return `WITH ${ctes} ${select}`;
})();

const FIRST_CLAIM_PARTS = claimParts({
  ...FIRST_ATTEMPTS_BY_ID,
  lease: '$1',
  limit: '$3',
  token: tokenGiven('$2', '$18'),
});

/**
 * Records attempts ($4 to $17, as `RECORD_ATTEMPTS`) and claims first attempts by id ($1 lease,
 * $2 ids, $3 limit, as `claimFirstAttempts`; $18 the caller's claim tokens, null for a random
 * one) in one statement. Every part runs to completion
 * whatever the select reads; the claim sees the rows as they were before the statement (a
 * delivery recorded here must not be claimed here: the caller keeps them apart). The failing
 * endpoints come as JSON on every row, and there is always a row: its claim columns are null
 * when nothing was claimed.
 */
const RECORD_AND_CLAIM_FIRST = `WITH ${FIRST_CLAIM_PARTS.ctes},
     ${recordCtes((n) => `$${n + 3}`)},
     failing AS (
       SELECT json_agg(json_build_object(
                'webhook_id', webhook_id, 'failing_since', failing_since,
                'consecutive_failures', consecutive_failures, 'enabled', enabled)) AS failing
       FROM health WHERE NOT succeeded
     )
     SELECT f.failing, c.* FROM failing f LEFT JOIN (${FIRST_CLAIM_PARTS.select}) c ON true`;

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
      rateLimitPerS: row.rate_limit_per_s,
    },
  };
}

/** One row that cannot be decrypted must not fail the whole claim: it is carried as an error. */
export function openCredentials(
  row: Pick<
    ClaimRow,
    'webhook_id' | 'secret' | 'previous_secret' | 'previous_secret_expires_at' | 'headers'
  >,
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
