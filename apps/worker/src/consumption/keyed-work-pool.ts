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
 * It never blocks its caller: `trySubmit` refuses a task when `capacity` tasks are held
 * already, or `perKeyLimit` for that key, and the caller decides what to do instead;
 * `submit` queues regardless.
 */
export class KeyedWorkPool {
  private readonly lanes = new Map<string, Lane>();
  /** Keys with queued work and no task running, in the order they became ready. */
  private readonly ready: string[] = [];
  private running = 0;
  private held = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly capacity: number,
    private readonly perKeyLimit: number,
    private readonly onTaskError: (key: string, error: unknown) => void,
  ) {
    if (concurrency < 1 || capacity < concurrency || perKeyLimit < 1) {
      throw new RangeError(
        'KeyedWorkPool needs concurrency, capacity >= concurrency and perKeyLimit >= 1',
      );
    }
  }

  /** Tasks accepted and not yet finished. */
  get size(): number {
    return this.held;
  }

  get active(): number {
    return this.running;
  }

  /** Queued and running tasks of one key. */
  heldFor(key: string): number {
    const lane = this.lanes.get(key);
    return lane === undefined ? 0 : lane.tasks.length + (lane.running ? 1 : 0);
  }

  /** Accepts the task if the pool and the key's lane have room; false otherwise. */
  trySubmit(key: string, task: Task): boolean {
    if (this.held >= this.capacity || this.heldFor(key) >= this.perKeyLimit) return false;
    this.submit(key, task);
    return true;
  }

  /** Queues the task whatever the limits: for the few tasks a caller must not lose. */
  submit(key: string, task: Task): void {
    this.held += 1;
    const lane = this.lanes.get(key) ?? { tasks: [], running: false };
    this.lanes.set(key, lane);
    lane.tasks.push(task);
    if (!lane.running && lane.tasks.length === 1) this.ready.push(key);
    this.pump();
  }

  /** Resolves when every accepted task has finished. */
  onIdle(): Promise<void> {
    if (this.held === 0) return Promise.resolve();
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
      this.held -= 1;
      if (lane.tasks.length > 0) this.ready.push(key);
      else this.lanes.delete(key);
      if (this.held === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
      this.pump();
    }
  }
}
