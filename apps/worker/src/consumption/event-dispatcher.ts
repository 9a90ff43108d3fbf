import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { KafkaContext } from '@nestjs/microservices';
import { KafkaMessage } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { WebhookEventMessage, parseEventMessage } from '@libs/contracts';
import { DeliverEventUseCase, EventSource } from '@libs/delivery';
import { withDeadline } from '@libs/messaging';
import { isPermanentDataError } from '@libs/persistence';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AssignmentWatch } from './assignment-watch';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { KeyedWorkPool } from './keyed-work-pool';
import { PartitionOffsets } from './partition-offsets';

/** Commits are batched: one round trip to the broker per this interval at most. */
const COMMIT_INTERVAL_MS = 200;
/** Events held in memory per delivery slot, all accounts together. */
const BUFFER_PER_SLOT = 20;
/**
 * Events one account may hold in its lane. Beyond it (a slow or hanging receiver with a
 * backlog) the account's further events are stored at once and only their ids wait in
 * memory, for its lane to attempt in order: one account can never fill the buffer and stall
 * the others, and it keeps its order.
 */
const LANE_LIMIT = 20;
/**
 * Parked events (ids in memory, event in Postgres) all accounts together. Past it the
 * consumer waits before reading on: memory stays bounded whatever the backlog.
 */
const MAX_PARKED = 100_000;
/** How long one check of a failing dependency may take before the handler heartbeats again. */
const READY_DEADLINE_MS = 5000;
/** Backoff while a dependency (Postgres, the dead-letter topic) is failing. */
const FAILURE_BACKOFF_MS = [250, 500, 1000, 2000, 5000];

/**
 * Where a message this worker works on sits, and the generation of its partition: all that
 * is kept of a parked event besides its delivery ids (never its value).
 */
interface MessageRef {
  topic: string;
  partition: number;
  offset: string;
  offsets: PartitionOffsets;
  token: number;
}

interface ParkedEvent {
  ref: MessageRef;
  deliveryIds: string[];
}

/** An account whose events wait in Postgres, in Kafka order, for its lane to catch up. */
interface ParkedAccount {
  queue: ParkedEvent[];
  /** One of its events is being stored: the drain must wait for it before it ends. */
  storing: boolean;
  wake: (() => void) | null;
}

/**
 * Takes each Kafka message from the handler and hands it to its account's lane in the work
 * pool, then returns: accounts proceed in parallel while each keeps Kafka order, and the
 * partition keeps flowing. Offsets are committed per partition up to the lowest message
 * whose first attempts are not yet recorded, so what is not committed is owned by whoever
 * consumes the partition: after a crash or a rebalance its next owner reads it again and
 * finishes it (every step is idempotent).
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
  private readonly parked = new Map<string, ParkedAccount>();
  private parkedCount = 0;
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
  ) {
    const concurrency = config.delivery.concurrency;
    this.maxEventBytes = config.http.maxEventBytes;
    this.pool = new KeyedWorkPool(
      concurrency,
      concurrency * BUFFER_PER_SLOT,
      LANE_LIMIT,
      (key, error) =>
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
    const event = parsed.event;
    // Once an account has parked events, its later ones park too, or they would overtake.
    if (
      !this.parked.has(event.account_id) &&
      this.pool.trySubmit(event.account_id, () => this.runInLane(event, ref, message))
    ) {
      return;
    }
    if (this.parkedCount >= MAX_PARKED) {
      const roomAgain = () => Promise.resolve(this.parkedCount < MAX_PARKED / 2);
      if (!(await this.waitFor(roomAgain, heartbeat))) return;
    }
    // Looked up after any wait: the account's drain may have ended meanwhile. While this
    // handler runs, no later message of the account (same partition) can overtake it.
    await this.park(event, ref, message, heartbeat);
  }

  /** In the account's lane: store the event, make its first attempts, finish its offset. */
  private async runInLane(
    event: WebhookEventMessage,
    ref: MessageRef,
    message: KafkaMessage,
  ): Promise<void> {
    await this.assignment.settled();
    if (!this.owns(ref)) return;
    this.metrics.eventAccepted();
    try {
      const deliveryIds = await this.storeInLane(event, ref, message);
      if (deliveryIds !== null && (await this.attemptInLane(deliveryIds, ref))) this.finish(ref);
    } finally {
      this.metrics.eventFinished();
    }
  }

  /**
   * Stores the event, retrying while Postgres fails. Null when there is nothing (more) to
   * attempt: the partition was taken away, or the database refused the event for good and it
   * went to the dead-letter topic.
   */
  private async storeInLane(
    event: WebhookEventMessage,
    ref: MessageRef,
    message: KafkaMessage,
  ): Promise<string[] | null> {
    for (let failures = 0; this.owns(ref); failures += 1) {
      try {
        return await this.deliverEvent.store(event, sourceOf(ref));
      } catch (error) {
        if (isPermanentDataError(error)) {
          const reason = `refused by the database: ${String(error)}`;
          if (await this.sendToDeadLetter(ref, message, 'refused_by_database', reason)) {
            this.finish(ref);
            return null;
          }
        } else {
          this.noteDatabaseFailure(`storing event ${event.id} (${describe(ref)})`, error);
        }
        await sleep(backoff(failures));
      }
    }
    return null;
  }

  /**
   * First attempts in order, retrying while Postgres fails and waiting while the group
   * rebalances; false once the event is no longer this worker's (its next owner reads it again).
   */
  private async attemptInLane(deliveryIds: string[], ref: MessageRef): Promise<boolean> {
    const stillOwned = () => this.owns(ref) && !this.assignment.changing;
    for (let failures = 0; this.owns(ref);) {
      if (this.assignment.changing) {
        // Most rebalances end with the partition read again (the token goes stale); should
        // the hold end otherwise, the same event goes on where it stopped.
        await this.assignment.settled();
        continue;
      }
      try {
        // Deliveries attempted before an interruption are not pending any more: skipped.
        if (await this.deliverEvent.attemptInOrder(deliveryIds, stillOwned)) return true;
      } catch (error) {
        this.noteDatabaseFailure(`first attempts of ${describe(ref)}`, error);
        await sleep(backoff(failures));
        failures += 1;
      }
    }
    return false;
  }

  /**
   * The account's lane is full: store the event now, hold only its delivery ids, and let the
   * account's drain (queued in its lane behind the events it holds) attempt them in order.
   * Waits while Postgres fails: the message must be stored before the next one is read.
   */
  private async park(
    event: WebhookEventMessage,
    ref: MessageRef,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    this.metrics.eventDeferred();
    const account = this.parked.get(event.account_id) ?? this.startParking(event.account_id);
    account.storing = true;
    try {
      const deliveryIds = await this.storeForParking(event, ref, message, heartbeat);
      if (deliveryIds !== null && this.owns(ref) && this.parked.get(event.account_id) === account) {
        account.queue.push({ ref, deliveryIds });
        this.parkedCount += 1;
      }
    } finally {
      account.storing = false;
      account.wake?.();
    }
  }

  /** Stores a parked event, waiting while Postgres fails; null when it was not stored. */
  private async storeForParking(
    event: WebhookEventMessage,
    ref: MessageRef,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<string[] | null> {
    let deliveryIds: string[] | null = null;
    await this.waitFor(async () => {
      if (!this.owns(ref)) return true;
      try {
        deliveryIds = await this.deliverEvent.store(event, sourceOf(ref));
        return true;
      } catch (error) {
        if (!isPermanentDataError(error)) {
          this.noteDatabaseFailure(`parking event ${event.id} (${describe(ref)})`, error);
          return false;
        }
        const reason = `refused by the database: ${String(error)}`;
        const sent = await this.sendToDeadLetter(ref, message, 'refused_by_database', reason);
        if (sent) this.finish(ref);
        return sent;
      }
    }, heartbeat);
    return deliveryIds;
  }

  /** Marks the account as parking and queues, behind its lane's backlog, the task draining it. */
  private startParking(accountId: string): ParkedAccount {
    const account: ParkedAccount = { queue: [], storing: false, wake: null };
    this.parked.set(accountId, account);
    this.pool.submit(accountId, () => this.drainParked(accountId, account));
    return account;
  }

  /**
   * Runs in the account's lane, after the events it held: makes the first attempts of the
   * oldest parked event, then queues itself again, so a slow account gives its slot back
   * between events like any other. When none is left and none is being stored, the account
   * uses its lane again. It sleeps while an event is being parked instead of polling.
   */
  private async drainParked(accountId: string, account: ParkedAccount): Promise<void> {
    await this.assignment.settled();
    const current = () => !this.stopping && this.parked.get(accountId) === account;
    while (current() && account.queue.length === 0 && account.storing) {
      await new Promise<void>((resolve) => (account.wake = resolve));
      account.wake = null;
    }
    const next = current() ? account.queue.shift() : undefined;
    if (next === undefined) {
      if (this.parked.get(accountId) === account) this.parked.delete(accountId);
      return;
    }
    this.parkedCount -= 1;
    if (await this.attemptInLane(next.deliveryIds, next.ref)) this.finish(next.ref);
    if (current()) this.pool.submit(accountId, () => this.drainParked(accountId, account));
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
      if (this.stopping || this.assignment.changing) return false;
      try {
        await heartbeat();
      } catch (error) {
        if (isRebalance(error)) return false;
      }
      await sleep(backoff(failures));
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
   * return at once, drains stop, and attempts under way finish but commit nothing.
   */
  private forgetAllWork(): void {
    for (const offsets of this.partitions.values()) offsets.reset();
    for (const account of this.parked.values()) account.wake?.();
    this.parked.clear();
    this.parkedCount = 0;
  }

  /** Drains accepted work and commits before the Kafka consumer disconnects. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.assignment.stop();
    for (const account of this.parked.values()) account.wake?.();
    this.logger.log(`Draining ${this.pool.size} in-flight events before shutdown`);
    await this.pool.onIdle();
    await this.commitNow();
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

function sourceOf(ref: MessageRef): EventSource {
  return { partition: ref.partition, offset: ref.offset };
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
