import { GroupCommit } from './group-commit';

/** A write that records its batches and finishes only when the test says so. */
class ControlledWrite {
  readonly batches: number[][] = [];
  private readonly finishers: (() => void)[] = [];

  readonly write = (items: number[]): Promise<number[]> => {
    this.batches.push(items);
    return new Promise((resolve) => this.finishers.push(() => resolve(items.map((i) => i * 10))));
  };

  finishNext(): void {
    this.finishers.shift()?.();
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('writes an item at once when idle, and what arrives meanwhile in the next write', async () => {
    const write = new ControlledWrite();
    const commit = new GroupCommit(write.write, { maxBatch: 100, maxInFlight: 1 });
    const first = commit.submit(1);
    await settle();
    expect(write.batches).toEqual([[1]]);
    const later = [2, 3, 4].map((item) => commit.submit(item));
    await settle();
    expect(write.batches).toHaveLength(1);
    write.finishNext();
    await expect(first).resolves.toBe(10);
    await settle();
    expect(write.batches).toEqual([[1], [2, 3, 4]]);
    write.finishNext();
    await expect(Promise.all(later)).resolves.toEqual([20, 30, 40]);
  });

  it('never puts more than maxBatch items in one write, and runs maxInFlight writes at once', async () => {
    const write = new ControlledWrite();
    const commit = new GroupCommit(write.write, { maxBatch: 2, maxInFlight: 2 });
    const results = [1, 2, 3, 4, 5].map((item) => commit.submit(item));
    await settle();
    expect(write.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    write.finishNext();
    await settle();
    expect(write.batches).toEqual([[1, 2], [3, 4], [5]]);
    write.finishNext();
    write.finishNext();
    await expect(Promise.all(results)).resolves.toEqual([10, 20, 30, 40, 50]);
  });

  it('keeps items with the same conflict key out of one batch, in their order', async () => {
    const write = new ControlledWrite();
    const commit = new GroupCommit(write.write, {
      maxBatch: 10,
      maxInFlight: 1,
      conflictKey: (item: number) => String(item % 2),
    });
    const results = [1, 2, 3, 4, 5].map((item) => commit.submit(item));
    await settle();
    expect(write.batches).toEqual([[1, 2]]);
    write.finishNext();
    await settle();
    write.finishNext();
    await settle();
    write.finishNext();
    await expect(Promise.all(results)).resolves.toEqual([10, 20, 30, 40, 50]);
    expect(write.batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('keeps items out of one batch when any of their conflict keys is taken', async () => {
    const write = new ControlledWrite();
    // 1 and 2 share "b"; 3 shares "a" with 1; 4 shares nothing.
    const keys: Record<number, string[]> = { 1: ['a', 'b'], 2: ['b'], 3: ['c', 'a'], 4: ['d'] };
    const commit = new GroupCommit(write.write, {
      maxBatch: 10,
      maxInFlight: 1,
      conflictKey: (item: number) => keys[item],
    });
    const results = [1, 2, 3, 4].map((item) => commit.submit(item));
    await settle();
    expect(write.batches).toEqual([[1, 4]]);
    write.finishNext();
    await settle();
    expect(write.batches).toEqual([
      [1, 4],
      [2, 3],
    ]);
    write.finishNext();
    await expect(Promise.all(results)).resolves.toEqual([10, 20, 30, 40]);
  });

  it('keeps a write within maxWeight, and writes an item heavier than that alone', async () => {
    const write = new ControlledWrite();
    const commit = new GroupCommit(write.write, {
      maxBatch: 10,
      maxInFlight: 1,
      maxWeight: 10,
      weightOf: (item: number) => item,
    });
    const results = [4, 5, 3, 30, 2].map((item) => commit.submit(item));
    for (let write_ = 0; write_ < 3; write_ += 1) {
      await settle();
      write.finishNext();
    }
    await expect(Promise.all(results)).resolves.toEqual([40, 50, 30, 300, 20]);
    expect(write.batches).toEqual([[4, 5], [3, 2], [30]]);
  });

  it('drops an item whose signal aborts before its write, and refuses items past maxWaiting', async () => {
    const write = new ControlledWrite();
    const commit = new GroupCommit(write.write, { maxBatch: 10, maxInFlight: 1, maxWaiting: 2 });
    const first = commit.submit(1);
    await settle();
    const abort = new AbortController();
    const abandoned = commit.submit(2, abort.signal).catch((error: unknown) => error);
    const kept = commit.submit(3);
    await expect(commit.submit(4)).rejects.toThrow('2 items are already waiting');
    abort.abort(new Error('caller gave up'));
    await expect(abandoned).resolves.toEqual(new Error('caller gave up'));
    write.finishNext();
    await settle();
    write.finishNext();
    await expect(Promise.all([first, kept])).resolves.toEqual([10, 30]);
    expect(write.batches).toEqual([[1], [3]]);
  });

  it('rejects every item of a failed batch with its error', async () => {
    const failure = new Error('connection lost');
    const commit = new GroupCommit<number, number>(() => Promise.reject(failure), {
      maxBatch: 10,
      maxInFlight: 1,
    });
    const results = [1, 2].map((item) => commit.submit(item).catch((error: unknown) => error));
    await expect(Promise.all(results)).resolves.toEqual([failure, failure]);
  });

  it('writes each item of a failed batch alone when asked, so only the refused one fails', async () => {
    const refused = new Error('refused: 3');
    const batches: number[][] = [];
    const commit = new GroupCommit<number, number>(
      (items) => {
        batches.push(items);
        return items.includes(3) ? Promise.reject(refused) : Promise.resolve(items);
      },
      { maxBatch: 10, maxInFlight: 1, retryAloneWhen: (error) => error === refused },
    );
    const results = [1, 2, 3, 4].map((item) =>
      commit.submit(item).catch((error: unknown) => error),
    );
    await expect(Promise.all(results)).resolves.toEqual([1, 2, refused, 4]);
    // Alone one after another: the retries never exceed the writes allowed in flight.
    expect(batches).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
  });

  it('fails a write that returns the wrong number of results instead of mismatching them', async () => {
    const commit = new GroupCommit<number, number>(() => Promise.resolve([1]), {
      maxBatch: 10,
      maxInFlight: 1,
    });
    const results = [1, 2].map((item) => commit.submit(item).catch((error: unknown) => error));
    const [first] = await Promise.all(results);
    expect(String(first)).toContain('returned 1 results for 2');
  });
});
