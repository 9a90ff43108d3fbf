export type Task = () => Promise<void>;

interface Lane {
  tasks: Task[];
  running: boolean;
}

/**
 * Runs tasks with at most `concurrency` at once while tasks sharing a key run one after
 * another, in submission order. Lanes take turns: a key with a long backlog gives its
 * slot back after each task, so it cannot starve the others.
 *
 * `submit` resolves once the task is accepted, not when it is done; it waits only while
 * `capacity` tasks are already queued or running (backpressure for the Kafka consumer).
 */
export class KeyedWorkPool {
  private readonly lanes = new Map<string, Lane>();
  /** Keys with queued work and no task running, in the order they became ready. */
  private readonly ready: string[] = [];
  private running = 0;
  private pending = 0;
  private readonly spaceWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly capacity: number,
    private readonly onTaskError: (key: string, error: unknown) => void,
  ) {
    if (concurrency < 1 || capacity < concurrency) {
      throw new RangeError('KeyedWorkPool needs concurrency >= 1 and capacity >= concurrency');
    }
  }

  /** Tasks accepted and not yet finished. */
  get size(): number {
    return this.pending;
  }

  get active(): number {
    return this.running;
  }

  /**
   * Accepts the task once there is room. `whileWaiting` is called about every
   * `waitTickMs` while the pool is full (the consumer uses it to heartbeat).
   */
  async submit(key: string, task: Task, whileWaiting?: () => Promise<void>, waitTickMs = 1000) {
    while (this.pending >= this.capacity) {
      await Promise.race([this.nextSpace(), delay(waitTickMs)]);
      if (this.pending >= this.capacity && whileWaiting) await whileWaiting();
    }
    this.pending += 1;
    const lane = this.lanes.get(key) ?? { tasks: [], running: false };
    this.lanes.set(key, lane);
    lane.tasks.push(task);
    if (!lane.running && lane.tasks.length === 1) this.ready.push(key);
    this.pump();
  }

  /** Resolves when every accepted task has finished. */
  onIdle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      const lane = this.lanes.get(key);
      const task = lane?.tasks.shift();
      if (!lane || !task) continue;
      lane.running = true;
      this.running += 1;
      void this.run(key, lane, task);
    }
  }

  private async run(key: string, lane: Lane, task: Task): Promise<void> {
    try {
      await task();
    } catch (error) {
      this.onTaskError(key, error);
    } finally {
      lane.running = false;
      this.running -= 1;
      this.pending -= 1;
      if (lane.tasks.length > 0) this.ready.push(key);
      else this.lanes.delete(key);
      this.spaceWaiters.splice(0).forEach((wake) => wake());
      if (this.pending === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
      this.pump();
    }
  }

  private nextSpace(): Promise<void> {
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
