import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { KafkaContext } from '@nestjs/microservices';
import { Consumer } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { WebhookEventMessage, parseEventMessage } from '@libs/contracts';
import { DeliverEventUseCase } from '@libs/delivery';
import { isPermanentDataError } from '@libs/persistence';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { KeyedWorkPool } from './keyed-work-pool';
import { PartitionOffsets } from './partition-offsets';

/** Commits are batched: one round trip to the broker per this interval at most. */
const COMMIT_INTERVAL_MS = 200;
/** Events held in memory per delivery slot, all accounts together. */
const BUFFER_PER_SLOT = 20;
/**
 * Events one account may hold in its lane. Beyond it (a slow or hanging receiver with a
 * backlog) the account's further events are stored at once with their first attempts
 * parked, and its lane drains them from Postgres in order: one account can never fill the
 * buffer and stall the others, and it keeps its order.
 */
const LANE_LIMIT = 20;
/** Parked first attempts one drain step takes. */
const PARKED_BATCH = 5;
/** Backoff while Postgres (or anything else the event needs) is failing. */
const FAILURE_BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];

type EventWork = (event: WebhookEventMessage) => Promise<unknown>;

interface ParkingState {
  /** Parked events whose storing is under way: the drain must not end before they land. */
  storing: number;
  /** An event was parked since the drain last looked for parked attempts. */
  parkedSinceDrainLooked: boolean;
}

/**
 * Takes each Kafka message from the handler and hands it to its account's lane in the work
 * pool, then returns: accounts proceed in parallel while each keeps Kafka order, and the
 * partition keeps flowing. Offsets are committed per partition up to the lowest message
 * whose outcome is not yet stored.
 */
@Injectable()
export class EventDispatcher implements BeforeApplicationShutdown {
  private readonly logger = new Logger(EventDispatcher.name);
  private readonly pool: KeyedWorkPool;
  private readonly partitions = new Map<number, PartitionOffsets>();
  /** Accounts whose events are parked in Postgres while their lane catches up. */
  private readonly parking = new Map<string, ParkingState>();
  private readonly timeoutMs: number;
  private consumer: Consumer | null = null;
  private topic: string;
  private commitTimer: NodeJS.Timeout | null = null;
  private commitInFlight: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(
    config: AppConfig,
    private readonly deliverEvent: DeliverEventUseCase,
    private readonly metrics: WorkerMetrics,
  ) {
    const concurrency = config.delivery.concurrency;
    this.timeoutMs = config.delivery.timeoutMs;
    this.topic = config.kafka.topic;
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
    this.watchAssignments(context.getConsumer());
    this.topic = context.getTopic();
    const message = context.getMessage();
    const partition = context.getPartition();
    const offset = BigInt(message.offset);
    const offsets = this.partitionOffsets(partition);
    const token = offsets.begin(offset);
    const done = () => {
      offsets.finish(offset, token);
      this.scheduleCommit();
    };
    this.metrics.eventConsumed();

    const parsed = parseEventMessage(message.value);
    if (!parsed.valid) {
      // A poison message must not block its partition: record why, and move past it.
      this.logger.warn(
        `Skipping invalid message at ${this.topic}[${partition}]@${offset}: ${parsed.reason}`,
      );
      this.metrics.invalidMessageSkipped();
      done();
      return;
    }

    const event = parsed.event;
    const source = { partition, offset: offset.toString() };
    // Once an account has parked events, its later ones park too, or they would overtake.
    const parking = this.parking.get(event.account_id);
    const accepted =
      parking === undefined &&
      this.pool.trySubmit(event.account_id, async () => {
        // Shutting down: leave queued events uncommitted for the partition's next owner.
        if (this.stopping) return;
        this.metrics.eventAccepted();
        try {
          if (
            await this.untilStored(event, partition, offset, (e) =>
              this.deliverEvent.execute(e, source),
            )
          ) {
            done();
          }
        } finally {
          this.metrics.eventFinished();
        }
      });
    if (accepted) return;

    // The account's lane (or the whole buffer) is full: store the event now, with its first
    // attempts parked, and let the lane drain them in order once it gets to them.
    this.metrics.eventDeferred();
    const state = parking ?? this.startParking(event.account_id);
    state.storing += 1;
    try {
      const stored = await this.untilStored(event, partition, offset, (e) =>
        this.deliverEvent.park(e, source, this.parkedUntil()),
      );
      if (stored) done();
    } finally {
      state.storing -= 1;
      state.parkedSinceDrainLooked = true;
    }
  }

  /** Marks the account as parking and queues, behind its lane's backlog, the task draining it. */
  private startParking(accountId: string): ParkingState {
    const state: ParkingState = { storing: 0, parkedSinceDrainLooked: true };
    this.parking.set(accountId, state);
    this.pool.submit(accountId, () => this.drainParked(accountId, state));
    return state;
  }

  /**
   * Runs in the account's lane, after the events it held: makes the parked first attempts in
   * Kafka order, until none is left and none is being stored, then lets the account use its
   * lane again. On shutdown the rest stays parked; the scheduler takes it when parking ends.
   */
  private async drainParked(accountId: string, state: ParkingState): Promise<void> {
    for (let failures = 0; !this.stopping;) {
      state.parkedSinceDrainLooked = false;
      try {
        const attempted = await this.deliverEvent.attemptParked(
          accountId,
          PARKED_BATCH,
          this.parkedUntil(),
        );
        failures = 0;
        if (attempted === 0 && state.storing === 0 && !state.parkedSinceDrainLooked) break;
      } catch (error) {
        const wait = FAILURE_BACKOFF_MS[Math.min(failures, FAILURE_BACKOFF_MS.length - 1)];
        failures += 1;
        this.logger.error(
          `Draining parked events of ${accountId} failed, retrying in ${wait} ms: ${String(error)}`,
        );
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
    if (this.parking.get(accountId) === state) this.parking.delete(accountId);
  }

  /** Parked attempts outlive one drain batch, so the scheduler only takes them if we die. */
  private parkedUntil(): Date {
    return new Date(Date.now() + Math.max(60_000, PARKED_BATCH * this.timeoutMs + 30_000));
  }

  /** Remembers the consumer (for commits) and forgets partitions a rebalance took away. */
  private watchAssignments(consumer: Consumer): void {
    if (this.consumer === consumer) return;
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[this.topic] ?? []);
      for (const [partition, offsets] of this.partitions) {
        if (!assigned.has(partition)) offsets.reset();
      }
    });
  }

  /** Drains accepted work and commits before the Kafka consumer disconnects. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.logger.log(`Draining ${this.pool.size} in-flight events before shutdown`);
    await this.pool.onIdle();
    await this.commitNow();
  }

  /**
   * At-least-once: work whose outcome could not be stored is retried (holding back only
   * its own account, or its partition for deferred events) instead of being committed past
   * and lost. Returns false when shutdown interrupted it; the message is read again later.
   */
  private async untilStored(
    event: WebhookEventMessage,
    partition: number,
    offset: bigint,
    work: EventWork,
  ): Promise<boolean> {
    for (let failures = 0; ; failures += 1) {
      try {
        await work(event);
        return true;
      } catch (error) {
        if (isPermanentDataError(error)) {
          // The database refuses this event's data for good: a poison message after all.
          this.logger.warn(
            `Skipping event ${event.id} at ${this.topic}[${partition}]@${offset}: refused by the database: ${String(error)}`,
          );
          this.metrics.invalidMessageSkipped();
          return true;
        }
        const wait = FAILURE_BACKOFF_MS[Math.min(failures, FAILURE_BACKOFF_MS.length - 1)];
        this.logger.error(
          `Event ${event.id} (${this.topic}[${partition}]@${offset}) failed, retrying in ${wait} ms: ${String(error)}`,
        );
        if (this.stopping) return false;
        await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.stopping) return false;
      }
    }
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
    const consumer = this.consumer;
    if (consumer === null) return;
    const ready = [...this.partitions.entries()]
      .map(([partition, offsets]) => ({ partition, offsets, next: offsets.committable() }))
      .filter((entry): entry is typeof entry & { next: bigint } => entry.next !== null);
    if (ready.length === 0) return;
    try {
      await consumer.commitOffsets(
        ready.map(({ partition, next }) => ({
          topic: this.topic,
          partition,
          offset: next.toString(),
        })),
      );
      ready.forEach(({ offsets, next }) => offsets.committed(next));
    } catch (error) {
      // Typically a rebalance: the partition's new owner reads from the last commit.
      this.logger.warn(`Offset commit failed, will retry: ${String(error)}`);
      this.scheduleCommit();
    }
  }
}
