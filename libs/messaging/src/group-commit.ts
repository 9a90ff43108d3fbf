export interface GroupCommitOptions<I> {
  /** Items written by one call of `write` at most. */
  maxBatch: number;
  /**
   * With `weightOf`: the total weight (e.g. bytes) one write may carry; an item heavier than
   * that on its own is written alone.
   */
  maxWeight?: number;
  weightOf?: (item: I) => number;
  /** Calls of `write` under way at once. */
  maxInFlight: number;
  /** Items waiting for a write at most; beyond it `submit` refuses at once (GroupCommitFullError). */
  maxWaiting?: number;
  /**
   * Items sharing a key never share a batch (a later one waits for the next): for
   * statements that update one row per key and cannot apply two changes to it at once. An
   * item that touches several such rows gives several keys.
   */
  conflictKey?: (item: I) => string | readonly string[];
  /**
   * When a batch of several items fails with an error this accepts, each item is written
   * again on its own, so one item the store refuses fails alone instead of its whole batch.
   */
  retryAloneWhen?: (error: unknown) => boolean;
}

/** The queue of items waiting for a write is full: the store behind it is not keeping up. */
export class GroupCommitFullError extends Error {
  constructor(waiting: number) {
    super(`${waiting} items are already waiting to be written`);
    this.name = 'GroupCommitFullError';
  }
}

interface Pending<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: callers submit one item each and wait for its result, and the items that
 * arrive while a write is under way go out together in the next one. At low load every
 * item is written at once (no timer, no added latency); under load each write carries many
 * items, so the round trips and commits per item fall as the load rises.
 *
 * `write` gets the items in submission order and must return one result per item, in the
 * same order; when it throws, every item of the batch rejects with that error.
 */
export class GroupCommit<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly options: GroupCommitOptions<I>,
  ) {
    if (options.maxBatch < 1 || options.maxInFlight < 1) {
      throw new RangeError('GroupCommit needs maxBatch and maxInFlight of at least 1');
    }
  }

  /** Items waiting for a write. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with the item's result once its batch is written. When `signal` aborts before
   * the item went into a write, the item is taken out of the queue and never written.
   */
  submit(item: I, signal?: AbortSignal): Promise<O> {
    if (this.queue.length >= (this.options.maxWaiting ?? Infinity)) {
      return Promise.reject(new GroupCommitFullError(this.queue.length));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<O>((resolve, reject) => {
      const onAbort = () => {
        const index = this.queue.indexOf(pending);
        if (index === -1) return; // already being written: its write decides
        this.queue.splice(index, 1);
        reject(signal?.reason);
      };
      const settled = () => signal?.removeEventListener('abort', onAbort);
      const pending: Pending<I, O> = {
        item,
        resolve: (result) => (settled(), resolve(result)),
        reject: (error) => (settled(), reject(error)),
      };
      this.queue.push(pending);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Items submitted in the same turn of the event loop join one batch.
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      this.inFlight += 1;
      void this.run(this.takeBatch()).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private takeBatch(): Pending<I, O>[] {
    const { conflictKey, weightOf, maxBatch } = this.options;
    const maxWeight = this.options.maxWeight ?? Infinity;
    const batch: Pending<I, O>[] = [];
    const keys = new Set<string>();
    const left: Pending<I, O>[] = [];
    let weight = 0;
    for (const pending of this.queue) {
      const itemKeys = keysOf(conflictKey?.(pending.item));
      const itemWeight = weightOf?.(pending.item) ?? 0;
      const fits =
        batch.length < maxBatch &&
        (batch.length === 0 || weight + itemWeight <= maxWeight) &&
        !itemKeys.some((key) => keys.has(key));
      if (fits) {
        for (const key of itemKeys) keys.add(key);
        weight += itemWeight;
        batch.push(pending);
      } else if (conflictKey === undefined && weightOf === undefined) {
        break;
      } else {
        left.push(pending);
      }
    }
    if (conflictKey === undefined && weightOf === undefined) {
      this.queue.splice(0, batch.length);
      return batch;
    }
    this.queue.length = 0;
    for (const pending of left) this.queue.push(pending);
    return batch;
  }

  private async run(batch: Pending<I, O>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((pending) => pending.item));
      if (results.length !== batch.length) {
        throw new Error(`a batch write returned ${results.length} results for ${batch.length}`);
      }
      batch.forEach((pending, index) => pending.resolve(results[index]));
    } catch (error) {
      if (batch.length > 1 && this.options.retryAloneWhen?.(error)) {
        // One after another, within this write's place among those in flight.
        for (const pending of batch) await this.run([pending]);
        return;
      }
      batch.forEach((pending) => pending.reject(error));
    }
  }
}

function keysOf(key: string | readonly string[] | undefined): readonly string[] {
  if (key === undefined) return [];
  return typeof key === 'string' ? [key] : key;
}
