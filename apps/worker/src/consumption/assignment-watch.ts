import { Consumer } from 'kafkajs';

/**
 * The longest a rebalance may hold lane work back: past the group's rebalance timeout (60 s)
 * plus its session timeout (30 s), the rejoin is not coming. Work then goes on where it
 * stopped, with the same generation (nothing is dropped that kafkajs would not read again).
 */
const MAX_HOLD_MS = 90_000;
/**
 * Without a heartbeat the group confirmed for this long, the member may be evicted (its
 * session is 30 s: a long pause of the process or its VM, the coordinator unreachable);
 * `heard` turns false until it hears from the group again. kafkajs rejoins after an eviction
 * without a REBALANCING event, so `changing` alone would not tell.
 */
const SILENCE_LIMIT_MS = 20_000;

export interface AssignmentListener {
  /** The group was joined again: every partition is read again from its last commit. */
  onRejoined(): void;
  /** The broker confirmed a commit of this partition up to (not including) `offset`. */
  onCommitted(partition: number, offset: bigint): void;
  /** A rebalance (or a crash and restart) began: the partitions may go to other members. */
  onHold?(): void;
}

/**
 * Follows the consumer's group membership through kafkajs's instrumentation events. From
 * the moment a rebalance (or a crash and restart) begins until the group is joined again,
 * `changing` is true and lanes start no new work: their partitions may already belong to
 * another member, which would send the same account's events at the same time.
 */
export class AssignmentWatch {
  private watched: Consumer | null = null;
  private holdStarted: number | null = null;
  private waiters: (() => void)[] = [];
  private holdTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastHeard = Date.now();
  /** When the group was last joined (0: not yet). */
  private joined = 0;

  constructor(private readonly listener: AssignmentListener) {}

  get consumer(): Consumer | null {
    return this.watched;
  }

  get changing(): boolean {
    return this.holdStarted !== null;
  }

  /** The group confirmed this member's heartbeat (or its join) within SILENCE_LIMIT_MS. */
  get heard(): boolean {
    return Date.now() - this.lastHeard < SILENCE_LIMIT_MS;
  }

  /** When the group was last joined, as `Date.now()` (0 before the first join). */
  get joinedAt(): number {
    return this.joined;
  }

  /** Starts listening to `consumer` (once; the handler calls this for every message). */
  watch(consumer: Consumer): void {
    if (this.watched === consumer) return;
    // Watched from the first message on, after kafkajs's first GROUP_JOIN: that is the join.
    if (this.watched === null) this.lastHeard = this.joined = Date.now();
    this.watched = consumer;
    const { REBALANCING, CRASH, GROUP_JOIN, COMMIT_OFFSETS, HEARTBEAT } = consumer.events;
    consumer.on(HEARTBEAT, () => (this.lastHeard = Date.now()));
    consumer.on(REBALANCING, () => this.hold());
    consumer.on(CRASH, () => this.hold());
    consumer.on(GROUP_JOIN, () => {
      this.lastHeard = this.joined = Date.now();
      this.listener.onRejoined();
      this.release();
    });
    consumer.on(COMMIT_OFFSETS, ({ payload }) => {
      for (const { partitions } of payload.topics) {
        for (const { partition, offset } of partitions) {
          this.listener.onCommitted(Number(partition), BigInt(offset));
        }
      }
    });
  }

  /** Resolves at once, or when the rebalance under way is over. */
  settled(): Promise<void> {
    if (!this.changing) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Shutdown: nobody waits for a rejoin that will not come. */
  stop(): void {
    this.stopped = true;
    this.release();
  }

  private hold(): void {
    if (this.holdStarted !== null || this.stopped) return;
    this.holdStarted = Date.now();
    // Should the group never be joined again (the consumer gave up), work goes on rather
    // than hang: the claims in Postgres still keep any one delivery from going out twice.
    this.holdTimer = setTimeout(() => this.release(), MAX_HOLD_MS);
    this.listener.onHold?.();
  }

  private release(): void {
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    this.holdStarted = null;
    this.waiters.splice(0).forEach((wake) => wake());
  }
}
