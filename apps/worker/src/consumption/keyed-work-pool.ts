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
 * It never blocks its caller and bounds nothing itself: the caller watches `size` and
 * `heldFor` and decides when to wait.
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
    private readonly onTaskError: (key: string, error: unknown) => void,
  ) {
    if (concurrency < 1) throw new RangeError('KeyedWorkPool needs a concurrency of 1 or more');
  }

  /** Tasks accepted and not yet finished. */
  get size(): number {
    return this.held;
  }

  get active(): number {
    return this.running;
  }

  /** Keys whose next task waits for a free slot. */
  get waiting(): number {
    return this.ready.length;
  }

  /** Whether a task submitted now under a key holding nothing would start at once. */
  get startsAtOnce(): boolean {
    return this.running < this.concurrency && this.ready.length === 0;
  }

  /** Queued and running tasks of one key. */
  heldFor(key: string): number {
    const lane = this.lanes.get(key);
    return lane === undefined ? 0 : lane.tasks.length + (lane.running ? 1 : 0);
  }

  /** Queues the task behind the key's earlier ones. */
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
