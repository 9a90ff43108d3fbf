import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { GroupCommit, withDeadline } from '@libs/messaging';
import {
  AttemptRecord,
  AttemptToRecord,
  ClaimedDelivery,
  DeliveryRepository,
  DeliveryTransition,
  EndpointFailurePolicy,
  RateTokenRequest,
  isPermanentDataError,
} from '@libs/persistence';
import { USER_AGENT } from '../user-agent';
import { WebhookHttpClient, WebhookResponse } from '../http/webhook-http-client';
import { classifyResponse } from '../policy/attempt-outcome';
import { nextStep, nextStepAfterManualAttempt } from '../policy/retry-policy';
import { standardWebhookHeaders } from '../signing/standard-webhooks.signer';
import { DeliveryObserver } from './delivery-observer';

/** A lease outlives the attempt's own timeout by this much before another worker may take over. */
const LEASE_MARGIN_MS = 30_000;
/** How soon a first attempt another holder was claiming at the same moment is looked at again. */
const CLAIM_RACE_POLL_MS = 20;
/** How often a first attempt held by someone else is looked at again. */
const HELD_POLL_MS = 250;
/**
 * How often claims held while waiting for a slot (claim or send) are checked for their
 * lane's ownership: one that lost its event is given back then, not once the slot comes.
 */
const HELD_WAIT_CHECK_MS = 200;
/**
 * A claimed first attempt that waited longer than this for its send slot reads its webhook's
 * state again before sending (it may have been disabled or deleted meanwhile).
 */
const RECHECK_WEBHOOK_AFTER_MS = 1000;
/** How long a worker shutting down waits for claims on their way back (`claimsGivenBack`). */
const GIVE_BACK_WAIT_MS = 5000;
/** Recording stops retrying this long before the lease runs out and another worker may claim. */
const RECORD_RETRY_RESERVE_MS = 5000;
/**
 * Claims, outcomes and rate-limit token takes of many attempts share statements (group
 * commit): what arrives while one is being written goes in the next, up to this many token
 * takes, or twice this many steps (claims, and outcomes with their lane's next claim).
 */
const BATCH_LIMIT = 100;
/**
 * One statement of each kind (claims and outcomes; token takes) under way at a time: the
 * next one takes everything that arrived meanwhile. With two, batches were half as large for
 * the same work, and Postgres spent a fifth more per delivery (`npm run bench`,
 * pg_stat_statements), with no gain in latency.
 */
const BATCHES_IN_FLIGHT = 1;

/**
 * A first attempt's claim, or an attempt's outcome with (maybe) the claim of its lane's next
 * first attempt: one item, so the two are always in one statement (both or neither commit).
 */
type Step = { claim: TokenClaim } | { record: AttemptToRecord; claimNext?: TokenClaim };

/**
 * A first attempt claimed with a token of ours: should the statement fail, it may have
 * committed all the same (its answer lost), and the claim is then given back by that token
 * rather than left to a lease nobody holds.
 */
interface TokenClaim {
  deliveryId: string;
  token: string;
}

/**
 * Runs `work` in a delivery slot (a concurrency limit the caller owns, such as p-limit's),
 * waiting for a free one first.
 */
export type Slot = <T>(work: () => Promise<T>) => Promise<T>;

const runNow: Slot = (work) => work();

/** The concurrency limits a first attempt goes through (see `executeFirst`). */
export interface AttemptGates {
  /** Held from the claim to the end of the request: bounds the deliveries claimed at once. */
  claim: Slot;
  /** Held for the request alone: the delivery slots. */
  send: Slot;
}

/**
 * A delivery claimed before its lane reached it: by the statement that stored it, or by the
 * one that recorded the lane's previous attempt.
 */
export interface HeldClaim {
  delivery: ClaimedDelivery;
  /** When the claim was asked for: its lease ends no earlier than this plus `leaseMs`. */
  claimedAt: number;
}

/**
 * The first attempt a lane makes right after this one: claimed by the statement that records
 * this one's outcome, which spares the lane a round trip (and Postgres a statement) per
 * delivery.
 */
export interface NextInLane {
  /** Its delivery id, when the lane knows it now and will attempt it right after; else null. */
  deliveryId(): string | null;
  /**
   * Receives its claim, made by the statement that stored this attempt's outcome, before this
   * attempt returns: the lane must send it or give it back.
   */
  take(held: HeldClaim): void;
}

/** A claimed delivery given back unsent: its webhook's rate limit lets it go in `waitMs`. */
interface RateLimited {
  waitMs: number;
}

/** A request that went out (or, with no response, a webhook found gone): to be recorded. */
interface SentAttempt {
  delivery: ClaimedDelivery;
  /** When the claim was asked for: its lease ends no earlier than this plus `leaseMs`. */
  claimedAt: number;
  response: WebhookResponse | null;
}

export interface AttemptResult {
  deliveryId: string;
  attemptNumber: number;
  status: DeliveryTransition['status'];
}

/** One attempt of one claimed delivery: sign, send, record, decide what comes next. */
@Injectable()
export class AttemptDeliveryUseCase {
  private readonly logger = new Logger(AttemptDeliveryUseCase.name);
  private readonly endpointPolicy: EndpointFailurePolicy;
  /**
   * Claims of first attempts and outcomes go out together: one statement records the
   * outcomes that arrived, each with the claim of its lane's next first attempt, and claims
   * the deliveries asked for meanwhile.
   */
  private readonly steps = new GroupCommit<Step, ClaimedDelivery | null>(
    (batch) => this.writeSteps(batch),
    {
      maxBatch: 2 * BATCH_LIMIT,
      maxInFlight: BATCHES_IN_FLIGHT,
      // One statement updates an endpoint's health once, and a delivery once (the same one
      // asked for twice goes in two statements: only one can take it).
      conflictKey: (step) =>
        'claim' in step
          ? `delivery:${step.claim.deliveryId}`
          : [
              `delivery:${step.record.delivery.id}`,
              `webhook:${step.record.delivery.webhook.id}`,
              ...(step.claimNext === undefined ? [] : [`delivery:${step.claimNext.deliveryId}`]),
            ],
      // An answer Postgres refuses fails alone, and is then recorded without its body.
      retryAloneWhen: isPermanentDataError,
    },
  );
  /** Give-backs under way (see `claimsGivenBack`). */
  private readonly givingBack = new Set<Promise<void>>();
  /** Claims held by lanes waiting for a slot (see `executeFirst`). */
  private readonly waitingWithClaims = new HeldWhileWaiting(
    (held) => this.giveBack(held),
    (message) => this.logger.warn(message),
  );
  /** Token takes of rate-limited webhooks, batched like claims; one per webhook per statement. */
  private readonly rateTokens = new GroupCommit<RateTokenRequest, number>(
    (batch) => this.deliveries.takeRateTokens(batch),
    { maxBatch: BATCH_LIMIT, maxInFlight: BATCHES_IN_FLIGHT, conflictKey: (r) => r.webhookId },
  );

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly client: WebhookHttpClient,
    private readonly config: AppConfig,
    private readonly observer: DeliveryObserver,
  ) {
    this.endpointPolicy = {
      failingForMs: config.delivery.failingWebhook.disableAfterMs,
      minFailures: config.delivery.failingWebhook.minAttempts,
    };
  }

  /** How long a claim holds a delivery; claims made elsewhere use the same. */
  get leaseMs(): number {
    return this.config.delivery.timeoutMs + LEASE_MARGIN_MS;
  }

  /**
   * How long after its claim a first attempt may still be sent: the request (at most the
   * timeout) and the recording of its outcome must end within the lease, before another
   * worker may take the delivery over.
   */
  private get sendWithinMs(): number {
    return this.leaseMs - this.config.delivery.timeoutMs - RECORD_RETRY_RESERVE_MS;
  }

  /**
   * The first attempt; null when there is none to make (it was made, or the event is no
   * longer `stillOwned`). While another holder's attempt is under way (a manual retry, or the
   * previous owner of the partition right after a rebalance), it waits for that one to answer
   * or its lease to run out: the account's next first attempt must not start before.
   * The request runs in a `gates.send` slot; the claim before it in a `gates.claim` one, held
   * until the request is over, so only as many deliveries are claimed ahead of a free send
   * slot as there are claim slots left. Should a send slot come so late that the lease would
   * not cover the request, the delivery is given back unsent and claimed again (hanging
   * receivers in every slot); most waits are short. Recording the outcome holds neither; it
   * also claims `next`, the lane's following first attempt, and hands it over (`take`).
   */
  async executeFirst(
    deliveryId: string,
    stillOwned: () => boolean,
    gates: AttemptGates = { claim: runNow, send: runNow },
    held: HeldClaim | null = null,
    next?: NextInLane,
  ): Promise<AttemptResult | null> {
    // The claim this lane holds while it waits for a slot: the claim slot (held ahead), then
    // the send slot. Both waits can be long (every slot on a hanging receiver): should the
    // lane lose its event meanwhile, the claim goes back at once, for the event's next owner.
    let claim = held;
    const stopWatching = this.waitingWithClaims.watch(stillOwned, () => {
      const lost = claim;
      claim = null;
      return lost;
    });
    try {
      for (;;) {
        const sent = await gates.claim(async (): Promise<SentAttempt | RateLimited | null> => {
          // A claim made by the store is used once: a delivery given back is claimed afresh.
          const heldClaim = claim;
          claim = null;
          if (!stillOwned()) {
            if (heldClaim !== null) await this.giveBack(heldClaim);
            return null;
          }
          const claimedAt = heldClaim?.claimedAt ?? Date.now();
          const delivery = heldClaim?.delivery ?? (await this.claimFirst(deliveryId));
          if (delivery === null) return null;
          claim = { delivery, claimedAt };
          // The token is taken in the send slot, right before the request, so a wait for the
          // slot cannot bunch requests up beyond the webhook's rate.
          return gates.send(async () => {
            const mine = claim;
            claim = null;
            // Given back while it waited: the lane lost its event.
            if (mine === null) return null;
            return this.sendClaimed(mine.delivery, mine.claimedAt);
          });
        });
        if (sent !== null && 'delivery' in sent) return this.settle(sent, next);
        if (!stillOwned()) return null;
        if (sent !== null) {
          // Over the webhook's rate limit: the delivery went back as it was, still this lane's,
          // and the lane waits here, holding no slot, so the account's order holds.
          await sleep(sent.waitMs);
          continue;
        }
        const heldUntil = await this.deliveries.leaseHeldUntil(deliveryId);
        if (!stillOwned()) return null;
        if (heldUntil === null) {
          // Not under way: done; or being claimed this very moment by another holder whose
          // claim has not committed yet (the row was locked, so ours skipped it); or held by a
          // worker that died, whose lease ran out between our claim and this look (waiting for
          // exactly that moment makes it likely). In the last two cases look again: the
          // account's next first attempt must not start before this one.
          if (!(await this.deliveries.awaitsAttempt(deliveryId))) return null;
          await sleep(CLAIM_RACE_POLL_MS);
          continue;
        }
        await sleep(Math.min(HELD_POLL_MS, Math.max(10, heldUntil.getTime() - Date.now())));
      }
    } finally {
      stopWatching();
    }
  }

  /**
   * The first attempt of a delivery not stored yet (see `SendFirstUseCase`), in a `send`
   * slot: returns its outcome, for the caller to store with the event. Its webhook is live
   * by the routing the caller read, and has no rate limit (those go the stored way).
   */
  async sendUnstored(
    delivery: ClaimedDelivery,
    send: Slot,
  ): Promise<{ attempt: AttemptRecord; transition: DeliveryTransition }> {
    const { response } = await send(() => this.send(delivery, Date.now()));
    if (response === null) throw new Error(`delivery ${delivery.id}: its webhook is not live`);
    const now = new Date();
    const transition = nextStep({
      outcome: classifyResponse(response, now),
      attemptNumber: 1,
      scheduleSeconds: this.config.delivery.retryScheduleSeconds,
      now,
    });
    this.observer.attemptRecorded(delivery, response, transition);
    return { attempt: attemptOf('scheduled', response), transition };
  }

  /** Claims the first attempt (with other steps); a failure gives back what it may have claimed. */
  private async claimFirst(deliveryId: string): Promise<ClaimedDelivery | null> {
    const claim = { deliveryId, token: randomUUID() };
    try {
      return await this.steps.submit({ claim });
    } catch (error) {
      if (!isPermanentDataError(error)) await this.releaseUnused(claim);
      throw error;
    }
  }

  /**
   * In its send slot: sends the claimed first attempt, unless the wait for the slot makes
   * that unsafe or its webhook's rate limit puts it off (then it is given back unsent). Should
   * Postgres fail before the request, the claim is given back too (best effort), so the lane's
   * next try does not wait out its own lease.
   */
  private async sendClaimed(
    delivery: ClaimedDelivery,
    claimedAt: number,
  ): Promise<SentAttempt | RateLimited> {
    const tooLate = () => Date.now() - claimedAt > this.sendWithinMs;
    let current = delivery;
    try {
      // The webhook was read at the claim: after a long wait, read again whether it is
      // still live, so one disabled or deleted meanwhile is not sent to.
      if (
        !tooLate() &&
        Date.now() - claimedAt > RECHECK_WEBHOOK_AFTER_MS &&
        !(await this.deliveries.webhookIsLive(delivery.webhook.id))
      ) {
        current = { ...delivery, webhook: { ...delivery.webhook, active: false } };
      }
      const waitMs = tooLate() ? 0 : await this.admit(current, false);
      if (waitMs > 0) return { waitMs };
      if (tooLate()) {
        // The slot came too late for the lease to cover the request and its recording:
        // give the delivery back unsent (still this lane's) and claim it afresh.
        await this.deliveries.releaseUnattempted(delivery, null);
        return { waitMs: 0 };
      }
    } catch (error) {
      await this.giveBack({ delivery, claimedAt });
      throw error;
    }
    return this.send(current, claimedAt);
  }

  /**
   * Gives a claim that will not be used back at once (its lane stopped: the event is no
   * longer this worker's), so whoever attempts it next need not wait its lease out.
   * Best effort: should Postgres fail, the lease runs out on its own. Some callers do not
   * wait for it; `claimsGivenBack` does, for a worker shutting down.
   */
  async giveBack({ delivery }: HeldClaim): Promise<void> {
    const release = this.deliveries.releaseUnattempted(delivery, null).catch((error: unknown) => {
      this.logger.warn(`Delivery ${delivery.id}: giving its claim back failed: ${String(error)}`);
    });
    this.givingBack.add(release);
    try {
      await release;
    } finally {
      this.givingBack.delete(release);
    }
  }

  /**
   * Resolves once every claim given back so far is back (or its give-back failed), or after
   * GIVE_BACK_WAIT_MS. A worker shutting down waits for it once its lanes are done, before its
   * database pool closes: a give-back started by the held-claim watch, or by a lane handing a
   * claim on, could otherwise be cut off, and the event's next owner would wait the lease
   * out, which is also all a give-back stuck past the bound costs.
   */
  async claimsGivenBack(): Promise<void> {
    const all = async () => {
      while (this.givingBack.size > 0) await Promise.all(this.givingBack);
    };
    try {
      await withDeadline(all(), GIVE_BACK_WAIT_MS, 'giving claims back');
    } catch (error) {
      this.logger.warn(`${String(error)}: their leases will run out instead`);
    }
  }

  /**
   * One attempt of a claimed delivery: send it, record the outcome, decide what comes next.
   * Null when its webhook's rate limit put it off: it was given back, due again when a token
   * will be there.
   */
  async execute(delivery: ClaimedDelivery, claimedAt = Date.now()): Promise<AttemptResult | null> {
    const waitMs = await this.admit(delivery, true);
    if (waitMs > 0) return null;
    return this.settle(await this.send(delivery, claimedAt));
  }

  /**
   * 0 when the delivery may be sent now. A webhook with a rate limit gives a token first
   * (unlimited ones pay nothing); without one, the delivery is given back unattempted
   * (no attempt counted, its state as the claim found it) and the wait is returned. With
   * `dueLater`, it is given back due when the wait is over, for the scheduler to claim again.
   */
  private async admit(delivery: ClaimedDelivery, dueLater: boolean): Promise<number> {
    const { rateLimitPerS, active, credentialsError, id: webhookId } = delivery.webhook;
    // No request goes out for a webhook gone or one that cannot be signed for: no token.
    if (rateLimitPerS === null || !active || credentialsError !== null) return 0;
    const waitMs = await this.rateTokens.submit({
      webhookId,
      ratePerS: rateLimitPerS,
      burst: rateLimitPerS,
    });
    if (waitMs === 0) return 0;
    await this.deliveries.releaseUnattempted(
      delivery,
      dueLater ? new Date(Date.now() + waitMs) : null,
    );
    this.observer.rateLimited(delivery);
    return waitMs;
  }

  /** Sends the claimed delivery, or discards it when its webhook is gone. */
  private async send(delivery: ClaimedDelivery, claimedAt: number): Promise<SentAttempt> {
    if (!delivery.webhook.active) return { delivery, claimedAt, response: null };
    this.observer.attemptStarted();
    try {
      const response =
        delivery.webhook.credentialsError === null
          ? await this.client.send({
              url: delivery.webhook.url,
              headers: this.requestHeaders(delivery),
              body: delivery.body,
            })
          : this.unsendable(delivery, delivery.webhook.credentialsError);
      return { delivery, claimedAt, response };
    } finally {
      this.observer.attemptFinished();
    }
  }

  private async settle(
    { delivery, claimedAt, response }: SentAttempt,
    next?: NextInLane,
  ): Promise<AttemptResult> {
    if (response === null) {
      await this.deliveries.discardUnsent(delivery, 'webhook disabled or deleted');
      this.observer.deliveryDiscarded();
      return {
        deliveryId: delivery.id,
        attemptNumber: delivery.attemptNumber - 1,
        status: 'discarded',
      };
    }
    const now = new Date();
    const outcome = classifyResponse(response, now);
    const transition =
      delivery.trigger === 'manual'
        ? nextStepAfterManualAttempt(outcome, previousState(delivery, now), now)
        : nextStep({
            outcome,
            attemptNumber: delivery.scheduledAttempts + 1,
            scheduleSeconds: this.config.delivery.retryScheduleSeconds,
            now,
          });
    await this.record(delivery, claimedAt, attemptOf(delivery.trigger, response), transition, next);
    this.observer.attemptRecorded(delivery, response, transition);
    if (transition.status !== 'succeeded') {
      this.logger.debug(
        `Delivery ${delivery.id} attempt ${delivery.attemptNumber}: ${response.error} -> ${transition.status}`,
      );
    }
    return {
      deliveryId: delivery.id,
      attemptNumber: delivery.attemptNumber,
      status: transition.status,
    };
  }

  /**
   * Records the attempt, and claims the lane's `next` first attempt in the same statement
   * (both or neither), handing it over. Should Postgres refuse what the receiver answered (it
   * never should: the client makes every body storable), the attempt is recorded without the
   * body rather than left unrecorded, which would resend it at every lease expiry.
   */
  private async record(
    delivery: ClaimedDelivery,
    claimedAt: number,
    attempt: AttemptRecord,
    transition: DeliveryTransition,
    next?: NextInLane,
  ): Promise<void> {
    // The claim outlives the attempt by LEASE_MARGIN_MS: keep trying within it, so that a
    // database blip after the send does not leave the outcome unrecorded (the delivery would
    // then be sent again as a retry, behind the account's later events).
    const giveUpAt = claimedAt + this.leaseMs - RECORD_RETRY_RESERVE_MS;
    // The first try only: a retry records the outcome alone (the lane claims the next itself).
    const nextId = next?.deliveryId() ?? null;
    let claimNext = nextId === null ? undefined : { deliveryId: nextId, token: randomUUID() };
    // A failed try may have committed all the same (its answer lost): its claim of the next
    // delivery is then ours, unused, under a token nobody holds; given back once recorded.
    let uncertain: TokenClaim | undefined;
    try {
      for (let failures = 0; ; failures += 1) {
        const nextClaimedAt = Date.now();
        try {
          const claimed = await this.steps.submit({
            record: { delivery, attempt, transition },
            claimNext,
          });
          if (claimed !== null) next?.take({ delivery: claimed, claimedAt: nextClaimedAt });
          return;
        } catch (error) {
          // A refusal (bad data) rolled the whole statement back: nothing to give back then.
          if (!isPermanentDataError(error)) uncertain ??= claimNext;
          claimNext = undefined;
          if (isPermanentDataError(error)) {
            this.logger.warn(`Delivery ${delivery.id}: response not storable: ${String(error)}`);
            await this.steps.submit({
              record: {
                delivery,
                attempt: { ...attempt, responseBody: '[response body could not be stored]' },
                transition,
              },
            });
            return;
          }
          if (Date.now() >= giveUpAt) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** failures, 2000)));
        }
      }
    } finally {
      if (uncertain !== undefined) await this.releaseUnused(uncertain);
    }
  }

  /** Gives back a claim that may have been made (best effort: else its lease runs out). */
  private async releaseUnused({ deliveryId, token }: TokenClaim): Promise<void> {
    try {
      await this.deliveries.releaseUnusedClaim(deliveryId, token);
    } catch (error) {
      this.logger.warn(`Delivery ${deliveryId}: giving its claim back failed: ${String(error)}`);
    }
  }

  private async writeSteps(steps: Step[]): Promise<(ClaimedDelivery | null)[]> {
    const claimIds: string[] = [];
    const tokens: (string | null)[] = [];
    const outcomes: AttemptToRecord[] = [];
    for (const step of steps) {
      if ('claim' in step) {
        claimIds.push(step.claim.deliveryId);
        tokens.push(step.claim.token);
      } else {
        outcomes.push(step.record);
        if (step.claimNext !== undefined) {
          claimIds.push(step.claimNext.deliveryId);
          tokens.push(step.claimNext.token);
        }
      }
    }
    const claimed = await this.deliveries.recordAttemptsAndClaimFirst(
      outcomes,
      claimIds,
      this.leaseMs,
      this.endpointPolicy,
      tokens,
    );
    const byId = new Map(claimed.map((delivery) => [delivery.id, delivery]));
    return steps.map((step) => {
      const id = 'claim' in step ? step.claim.deliveryId : step.claimNext?.deliveryId;
      return id === undefined ? null : (byId.get(id) ?? null);
    });
  }

  /**
   * A webhook whose secrets cannot be decrypted cannot be signed for: the attempt fails
   * unsent and is retried on schedule, so it goes out once the operator restores the key.
   */
  private unsendable(delivery: ClaimedDelivery, reason: string): WebhookResponse {
    this.logger.error(`Delivery ${delivery.id}: webhook ${delivery.webhook.id}: ${reason}`);
    return {
      startedAt: new Date(),
      durationMs: 0,
      statusCode: null,
      responseBody: null,
      retryAfter: undefined,
      error: "not sent: the service cannot decrypt this webhook's secret or headers",
      blocked: false,
    };
  }

  private requestHeaders(delivery: ClaimedDelivery): Record<string, string> {
    const timestamp = Math.floor(Date.now() / 1000);
    return {
      // The webhook's own headers first: they may not override the signed ones.
      ...delivery.webhook.headers,
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...standardWebhookHeaders(
        delivery.webhook.secrets,
        delivery.eventId,
        timestamp,
        delivery.body,
      ),
    };
  }
}

/**
 * Lanes waiting for a slot with a claim in hand, each with its ownership of the event: checked
 * on one shared timer (stopped at a tick that finds none), and a claim whose lane lost its
 * event is taken from the lane and given back.
 */
class HeldWhileWaiting {
  private readonly lanes = new Set<WaitingLane>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly giveBack: (held: HeldClaim) => Promise<void>,
    private readonly warn: (message: string) => void,
  ) {}

  /** Watches a lane; `take` hands its claim over (null: none). Returns the stop. */
  watch(stillOwned: () => boolean, take: () => HeldClaim | null): () => void {
    const lane = { stillOwned, take };
    this.lanes.add(lane);
    if (this.timer === null) {
      this.timer = setInterval(() => this.check(), HELD_WAIT_CHECK_MS);
      this.timer.unref();
    }
    return () => this.lanes.delete(lane);
  }

  private check(): void {
    if (this.lanes.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    for (const lane of this.lanes) {
      try {
        if (lane.stillOwned()) continue;
        const held = lane.take();
        if (held !== null) void this.giveBack(held);
      } catch (error) {
        this.warn(`Checking a waiting lane's claim failed: ${String(error)}`);
      }
    }
  }
}

interface WaitingLane {
  stillOwned: () => boolean;
  take: () => HeldClaim | null;
}

/** What is recorded of an attempt that got (or failed to get) a response. */
function attemptOf(trigger: AttemptRecord['trigger'], response: WebhookResponse): AttemptRecord {
  return {
    trigger,
    startedAt: response.startedAt,
    durationMs: response.durationMs,
    responseStatus: response.statusCode,
    responseBody: response.responseBody,
    error: response.error,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The state a failed manual attempt returns the delivery to. A delivery whose first
 * attempt is still waiting in its account's lane goes to the scheduler instead: the lane may
 * have passed it by while the manual attempt held it, and nothing else would ever send it.
 */
function previousState(delivery: ClaimedDelivery, now: Date): ClaimedDelivery['previous'] {
  const { status, nextAttemptAt } = delivery.previous;
  return status === 'pending' && nextAttemptAt === null
    ? { status, nextAttemptAt: now }
    : delivery.previous;
}
