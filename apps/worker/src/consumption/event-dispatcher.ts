import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { KafkaContext } from '@nestjs/microservices';
import { KafkaMessage } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { WebhookEventMessage, parseEventMessage } from '@libs/contracts';
import {
  DeliverEventUseCase,
  EventSource,
  FirstAttemptSlots,
  HeldClaim,
  NextInLane,
  StoredDeliveries,
} from '@libs/delivery';
import { withDeadline } from '@libs/messaging';
import { isPermanentDataError } from '@libs/persistence';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AssignmentWatch } from './assignment-watch';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { KeyedWorkPool } from './keyed-work-pool';
import { PartitionOffsets } from './partition-offsets';

/** Commits are batched: one round trip to the broker per this interval at most. */
const COMMIT_INTERVAL_MS = 200;
/**
 * Events held, all accounts together: each is stored at once, so only where its message sits
 * and its delivery ids wait in memory (never its value) for its account's lane: about 800
 * bytes each, so 40 MB at this bound, well inside the worker's 192 MB heap. Past it the
 * consumer waits before reading on (the backlog waits in Kafka instead): memory stays bounded
 * whatever the backlog (one account with a hanging receiver and a long backlog included).
 */
const MAX_HELD_EVENTS = 50_000;
/**
 * Events read but not yet stored, whose values are in memory (raw and parsed): past either
 * bound the consumer waits. Reading is much faster than storing when a backlog is caught up,
 * so with large events the bytes are what matter.
 */
const MAX_UNSTORED_EVENTS = 2_000;
const MAX_UNSTORED_BYTES = 16 * 1024 * 1024;
/** An account holding this many events is backlogged: its further events count as deferred. */
const BACKLOG_THRESHOLD = 20;
/**
 * Lanes working at once, per delivery slot: a lane waiting for Postgres (its claim, its
 * outcome) holds no slot, so more lanes than slots keep every slot sending.
 */
const LANES_PER_SLOT = 10;
/** How long one check of a failing dependency may take before the handler heartbeats again. */
const READY_DEADLINE_MS = 5000;
/** Longest time a handler waiting for a dependency goes without heartbeating. */
const HEARTBEAT_WHILE_WAITING_MS = 1000;
/** Backoff while a dependency (Postgres, the dead-letter topic) is failing. */
const FAILURE_BACKOFF_MS = [250, 500, 1000, 2000, 5000];

/**
 * Where a message this worker works on sits, and the generation of its partition: all that
 * is kept of an event once it is stored, besides its delivery ids.
 */
interface MessageRef {
  topic: string;
  partition: number;
  offset: string;
  offsets: PartitionOffsets;
  token: number;
}

/** An event in its account's lane, from its message's arrival until its lane is done with it. */
interface LaneEntry {
  ref: MessageRef;
  /** Undefined while it is being stored; null when there is nothing to attempt. */
  stored: StoredDeliveries | null | undefined;
  /**
   * Its first delivery, claimed ahead by the statement that recorded the outcome of the
   * lane's previous event (see `nextInLane`); its lane sends it or gives it back.
   */
  claimedAhead: HeldClaim | null;
  /** The account's next event in the lane, once one arrives. */
  next?: LaneEntry;
}

/**
 * Takes each Kafka message from the handler, starts storing its event (stores of messages
 * arriving together share one statement) and queues it in its account's lane, then returns:
 * accounts proceed in parallel while each keeps Kafka order, and the partitions keep flowing.
 * Once stored, only where the message sits and its delivery ids stay in memory. Offsets are
 * committed per partition up to the lowest message whose first attempts are not yet recorded,
 * so what is not committed is owned by whoever consumes the partition: after a crash or a
 * rebalance its next owner reads it again and finishes it (every step is idempotent).
 *
 * The handler never throws (kafkajs would read the same message again and again): a message
 * that is not an event goes to the dead-letter topic; a failing dependency makes the handler
 * wait, heartbeating, until it is back.
 */
@Injectable()
export class EventDispatcher implements BeforeApplicationShutdown {
  private readonly logger = new Logger(EventDispatcher.name);
  private readonly pool: KeyedWorkPool;
  private readonly partitions = new Map<number, PartitionOffsets>();
  /** The last event in each account's lane (each entry links to the one after it). */
  private readonly laneTails = new Map<string, LaneEntry>();
  private unstored = 0;
  private unstoredBytes = 0;
  private readonly assignment = new AssignmentWatch({
    onRejoined: () => this.forgetAllWork(),
    onCommitted: (partition, offset) => this.partitions.get(partition)?.committed(offset),
  });
  private topic = '';
  private readonly maxEventBytes: number;
  /** Set when Postgres failed; new messages wait until it answers again. */
  private databaseTrouble = false;
  private commitTimer: NodeJS.Timeout | null = null;
  private commitInFlight: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(
    config: AppConfig,
    private readonly deliverEvent: DeliverEventUseCase,
    private readonly deadLetters: DeadLetterPublisher,
    private readonly metrics: WorkerMetrics,
    /** Shared with the direct-mode lanes this worker drains too: WORKER_CONCURRENCY in all. */
    private readonly slots: FirstAttemptSlots,
  ) {
    const concurrency = config.delivery.concurrency;
    this.maxEventBytes = config.http.maxEventBytes;
    this.pool = new KeyedWorkPool(concurrency * LANES_PER_SLOT, (key, error) =>
      this.logger.error(`Unexpected failure in the lane of account ${key}: ${String(error)}`),
    );
  }

  async dispatch(context: KafkaContext): Promise<void> {
    // While shutting down nothing new starts; what is not committed is read again later.
    if (this.stopping) return;
    this.assignment.watch(context.getConsumer());
    this.topic = context.getTopic();
    const partition = context.getPartition();
    const offsets = this.partitionOffsets(partition);
    const message = context.getMessage();
    const ref: MessageRef = {
      topic: context.getTopic(),
      partition,
      offset: message.offset,
      offsets,
      token: offsets.begin(BigInt(message.offset)),
    };
    this.metrics.eventConsumed();
    try {
      await this.handle(ref, message, context.getHeartbeat());
    } catch (error) {
      // Not expected: every step catches what it can meet. The offset stays unfinished, so it
      // is never committed past, and it is read again after the next rebalance or restart.
      this.logger.error(`Message ${describe(ref)} left unfinished: ${String(error)}`);
    }
  }

  private async handle(
    ref: MessageRef,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    if (this.databaseTrouble && !(await this.waitFor(() => this.databaseAnswers(), heartbeat))) {
      return;
    }
    const parsed = parseEventMessage(message.value, this.maxEventBytes);
    if (!parsed.valid) {
      await this.deadLetter(ref, message, parsed.code, parsed.reason, heartbeat);
      return;
    }
    const roomLeft = () =>
      Promise.resolve(
        this.pool.size < MAX_HELD_EVENTS &&
          this.unstored < MAX_UNSTORED_EVENTS &&
          this.unstoredBytes < MAX_UNSTORED_BYTES,
      );
    if (!(await roomLeft()) && !(await this.waitFor(roomLeft, heartbeat))) return;
    const event = parsed.event;
    const held = this.pool.heldFor(event.account_id);
    if (held >= BACKLOG_THRESHOLD) this.metrics.eventDeferred();
    // Its lane starts on it at once: the store claims its first delivery too.
    const claimToken = held === 0 && this.pool.startsAtOnce ? randomUUID() : null;
    const entry: LaneEntry = { ref, stored: undefined, claimedAhead: null };
    const stored = this.store(event, ref, message, claimToken).then((result) => {
      entry.stored = result;
      return result;
    });
    const account = event.account_id;
    const previous = this.laneTails.get(account);
    if (previous !== undefined) previous.next = entry;
    this.laneTails.set(account, entry);
    this.pool.submit(account, async () => {
      try {
        await this.runInLane(entry, stored, this.nextInLane(entry));
      } finally {
        if (this.laneTails.get(account) === entry) this.laneTails.delete(account);
      }
    });
  }

  /**
   * The event after `entry` in the account's lane, as the delivery to claim with the outcome
   * of `entry`'s last first attempt: only when that event is stored, still this worker's, its
   * first delivery not claimed yet, and its lane will start on it at once (no other lane is
   * waiting for a turn: a claim waiting long could outlive its lease).
   */
  private nextInLane(entry: LaneEntry): NextInLane {
    let following: LaneEntry | undefined;
    return {
      deliveryId: () => {
        following = entry.next;
        const stored = following?.stored;
        if (
          following === undefined ||
          !stored ||
          stored.held !== null ||
          following.claimedAhead !== null ||
          !this.owns(entry.ref) ||
          !this.owns(following.ref) ||
          this.assignment.changing ||
          this.pool.waiting > 0
        ) {
          return null;
        }
        return stored.deliveryIds[0] ?? null;
      },
      take: (held) => {
        if (following !== undefined && following.claimedAhead === null) {
          following.claimedAhead = held;
        } else {
          void this.deliverEvent.giveBack(held);
        }
      },
    };
  }

  /**
   * Stores the event, retrying while Postgres fails. Null when there is nothing (more) to
   * attempt: the partition was taken away, or the database refused the event for good and it
   * went to the dead-letter topic.
   */
  private async store(
    event: WebhookEventMessage,
    ref: MessageRef,
    message: KafkaMessage,
    claimToken: string | null,
  ): Promise<StoredDeliveries | null> {
    const bytes = message.value?.length ?? 0;
    this.unstored += 1;
    this.unstoredBytes += bytes;
    let uncertain = false;
    try {
      for (let failures = 0; this.owns(ref); failures += 1) {
        try {
          return await this.deliverEvent.store(event, sourceOf(ref, message), claimToken);
        } catch (error) {
          if (isPermanentDataError(error)) {
            const reason = `refused by the database: ${String(error)}`;
            if (await this.sendToDeadLetter(ref, message, 'refused_by_database', reason)) {
              if (uncertain && claimToken !== null) {
                await this.deliverEvent.releaseStoreClaim(claimToken).catch(() => undefined);
              }
              this.finish(ref);
              return null;
            }
          } else {
            this.noteDatabaseFailure(`storing event ${event.id} (${describe(ref)})`, error);
            uncertain = true;
          }
          await sleep(backoff(failures));
        }
      }
      // Stopped without knowing whether a failed try committed: give back what it may have
      // claimed, so the partition's next owner does not wait out its lease (best effort).
      if (uncertain && claimToken !== null) {
        await this.deliverEvent.releaseStoreClaim(claimToken).catch(() => undefined);
      }
      return null;
    } finally {
      this.unstored -= 1;
      this.unstoredBytes -= bytes;
    }
  }

  /** In the account's lane: once the event is stored, make its first attempts, finish its offset. */
  private async runInLane(
    entry: LaneEntry,
    storing: Promise<StoredDeliveries | null>,
    after: NextInLane,
  ): Promise<void> {
    const { ref } = entry;
    await this.assignment.settled();
    if (!this.owns(ref)) {
      // Not this worker's any more: a claim the store made goes back at once.
      const stored = await storing;
      for (const held of [stored?.held ?? null, takeClaimedAhead(entry)]) {
        if (held !== null) await this.deliverEvent.giveBack(held);
      }
      return;
    }
    this.metrics.eventAccepted();
    try {
      const stored = await storing;
      const claimedAhead = takeClaimedAhead(entry);
      if (stored === null) {
        if (claimedAhead !== null) await this.deliverEvent.giveBack(claimedAhead);
        return;
      }
      const first = claimedAhead === null ? stored : { ...stored, held: claimedAhead };
      if (await this.attemptInLane(first, ref, after)) this.finish(ref);
    } finally {
      this.metrics.eventFinished();
    }
  }

  /**
   * First attempts in order, retrying while Postgres fails and waiting while the group
   * rebalances; false once the event is no longer this worker's (its next owner reads it again).
   */
  private async attemptInLane(
    stored: StoredDeliveries,
    ref: MessageRef,
    after: NextInLane,
  ): Promise<boolean> {
    const stillOwned = () => this.owns(ref) && !this.assignment.changing;
    // The store's claim serves the first try only: after a failure, claims are made afresh.
    let next = stored;
    try {
      for (let failures = 0; this.owns(ref);) {
        if (this.assignment.changing) {
          // Most rebalances end with the partition read again (the token goes stale); should
          // the hold end otherwise, the same event goes on where it stopped.
          await this.assignment.settled();
          continue;
        }
        try {
          // Deliveries attempted before an interruption are not pending any more: skipped.
          const tried = next;
          next = { deliveryIds: stored.deliveryIds, held: null };
          if (await this.deliverEvent.attemptInOrder(tried, stillOwned, this.slots, after)) {
            return true;
          }
        } catch (error) {
          this.noteDatabaseFailure(`first attempts of ${describe(ref)}`, error);
          await sleep(backoff(failures));
          failures += 1;
        }
      }
      return false;
    } finally {
      // Stopped before its first try (a rebalance, a shutdown): the store's claim goes back,
      // so whoever reads the message again need not wait its lease out.
      if (next.held !== null) await this.deliverEvent.giveBack(next.held);
    }
  }

  /**
   * Sets a message that is not an event aside on the dead-letter topic, then moves past it.
   * While that topic cannot be written, waits (heartbeating) rather than skip the message.
   */
  private async deadLetter(
    ref: MessageRef,
    message: KafkaMessage,
    code: string,
    reason: string,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    this.logger.warn(`Dead-lettering the message at ${describe(ref)}: ${reason}`);
    const sent = () => this.sendToDeadLetter(ref, message, code, reason);
    if (await this.waitFor(sent, heartbeat)) this.finish(ref);
  }

  private async sendToDeadLetter(
    ref: MessageRef,
    message: KafkaMessage,
    code: string,
    reason: string,
  ): Promise<boolean> {
    try {
      await this.deadLetters.send(
        { topic: ref.topic, partition: ref.partition, message },
        code,
        reason,
      );
      this.metrics.invalidMessage(code);
      return true;
    } catch (error) {
      this.logger.error(
        `Writing ${describe(ref)} to the dead-letter topic failed: ${String(error)}`,
      );
      return false;
    }
  }

  /**
   * Waits inside the message handler until `ready()` says so, heartbeating so that the group
   * does not evict this member meanwhile. False when it gave up: shutdown, or a rebalance
   * (the message is then read again from the last commit by its partition's next owner).
   */
  private async waitFor(
    ready: () => Promise<boolean>,
    heartbeat: () => Promise<void>,
  ): Promise<boolean> {
    for (let failures = 0; ; failures += 1) {
      // Bounded, so that heartbeats go out even while a dependency hangs instead of failing.
      if (await withDeadline(ready(), READY_DEADLINE_MS, 'dependency check').catch(() => false)) {
        return true;
      }
      // The pause is cut into slices with a heartbeat before each (kafkajs sends at most one
      // per heartbeatInterval), so that a rebalance is heard within a second, not after a
      // 5 s backoff: the whole group waits for this member to rejoin.
      const pause = backoff(failures);
      for (let waited = 0; waited < pause; waited += HEARTBEAT_WHILE_WAITING_MS) {
        if (this.stopping || this.assignment.changing) return false;
        try {
          await heartbeat();
        } catch (error) {
          if (isRebalance(error)) return false;
        }
        await sleep(Math.min(HEARTBEAT_WHILE_WAITING_MS, pause - waited));
      }
    }
  }

  private noteDatabaseFailure(what: string, error: unknown): void {
    if (!this.databaseTrouble) {
      this.logger.error(`Postgres failed while ${what}; pausing new messages: ${String(error)}`);
    }
    this.databaseTrouble = true;
  }

  private async databaseAnswers(): Promise<boolean> {
    try {
      await this.deliverEvent.databaseReady();
      if (this.databaseTrouble) this.logger.log('Postgres answers again; reading on');
      this.databaseTrouble = false;
      return true;
    } catch {
      return false;
    }
  }

  /** The message is still this worker's to finish: not shutting down, partition not reassigned. */
  private owns(ref: MessageRef): boolean {
    return !this.stopping && ref.offsets.isCurrent(ref.token);
  }

  private finish(ref: MessageRef): void {
    ref.offsets.finish(BigInt(ref.offset), ref.token);
    this.scheduleCommit();
  }

  /**
   * A rebalance happened: every partition is read again from its last commit (by this worker
   * or another), so all work in memory is dropped: queued lane tasks find themselves stale and
   * return at once, and attempts under way finish but commit nothing.
   */
  private forgetAllWork(): void {
    for (const offsets of this.partitions.values()) offsets.reset();
  }

  /** Drains accepted work and commits before the Kafka consumer disconnects. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.assignment.stop();
    this.logger.log(`Draining ${this.pool.size} in-flight events before shutdown`);
    await this.pool.onIdle();
    await this.commitNow();
    // Claims on their way back (given back while their lanes waited) land before the
    // database pool closes, so the events' next owners need not wait their leases out.
    await this.deliverEvent.claimsGivenBack();
    // Once more if the broker did not confirm (the partitions' next owner would redo the work).
    await this.commitNow();
  }

  private partitionOffsets(partition: number): PartitionOffsets {
    let offsets = this.partitions.get(partition);
    if (!offsets) {
      offsets = new PartitionOffsets();
      this.partitions.set(partition, offsets);
    }
    return offsets;
  }

  private scheduleCommit(): void {
    if (this.commitTimer !== null) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      void this.commitNow();
    }, COMMIT_INTERVAL_MS);
  }

  /** Commits every partition that moved; commits never overlap. */
  private commitNow(): Promise<void> {
    this.commitInFlight = this.commitInFlight.then(() => this.commitOnce());
    return this.commitInFlight;
  }

  private async commitOnce(): Promise<void> {
    const consumer = this.assignment.consumer;
    if (consumer === null) return;
    const ready = [...this.partitions.entries()]
      .map(([partition, offsets]) => ({ partition, next: offsets.committable() }))
      .filter((entry): entry is { partition: number; next: bigint } => entry.next !== null);
    if (ready.length === 0) return;
    try {
      // Marked committed only when the broker confirms (AssignmentWatch hears kafkajs's
      // COMMIT_OFFSETS event): kafkajs silently skips a commit while its runner is stopped.
      await consumer.commitOffsets(
        ready.map(({ partition, next }) => ({
          topic: this.topic,
          partition,
          offset: next.toString(),
        })),
      );
    } catch (error) {
      // Typically a rebalance: the partition's new owner reads from the last commit.
      this.logger.warn(`Offset commit failed, will retry: ${String(error)}`);
    }
    const unconfirmed = ready.some(
      ({ partition, next }) => this.partitions.get(partition)?.committable() === next,
    );
    if (unconfirmed && !this.stopping) this.scheduleCommit();
  }
}

/** The claim made ahead for the entry, now its lane's to use or give back. */
function takeClaimedAhead(entry: LaneEntry): HeldClaim | null {
  const held = entry.claimedAhead;
  entry.claimedAhead = null;
  return held;
}

function sourceOf(ref: MessageRef, message: KafkaMessage): EventSource {
  return { partition: ref.partition, offset: ref.offset, bytes: message.value?.length ?? 0 };
}

function describe(ref: MessageRef): string {
  return `${ref.topic}[${ref.partition}]@${ref.offset}`;
}

function backoff(failures: number): number {
  return FAILURE_BACKOFF_MS[Math.min(failures, FAILURE_BACKOFF_MS.length - 1)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** kafkajs's signs that the group is rebalancing and this member must rejoin. */
function isRebalance(error: unknown): boolean {
  const type: unknown =
    typeof error === 'object' && error !== null ? Reflect.get(error, 'type') : undefined;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID' ||
    type === 'NOT_COORDINATOR_FOR_GROUP'
  );
}
