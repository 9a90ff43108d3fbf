import { KeyedWorkPool } from './keyed-work-pool';

/** A task that finishes when the test says so, recording when it started. */
function controllableTask(log: string[], name: string) {
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: async () => {
      log.push(`start ${name}`);
      await done;
      log.push(`end ${name}`);
    },
    finish,
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyedWorkPool', () => {
  const failures: unknown[] = [];
  const newPool = (concurrency: number, capacity: number) =>
    new KeyedWorkPool(concurrency, capacity, (_key, error) => failures.push(error));

  afterEach(() => expect(failures).toEqual([]));

  it('runs tasks of one key one after another, in submission order', async () => {
    const pool = newPool(4, 100);
    const log: string[] = [];
    const tasks = ['a1', 'a2', 'a3'].map((name) => controllableTask(log, name));
    for (const task of tasks) await pool.submit('a', task.run);
    await flush();
    expect(log).toEqual(['start a1']);
    tasks[0].finish();
    await flush();
    expect(log).toEqual(['start a1', 'end a1', 'start a2']);
    tasks[1].finish();
    tasks[2].finish();
    await pool.onIdle();
    expect(log).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
  });

  it('runs different keys in parallel up to the concurrency', async () => {
    const pool = newPool(2, 100);
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((name) => controllableTask(log, name));
    await pool.submit('a', a.run);
    await pool.submit('b', b.run);
    await pool.submit('c', c.run);
    await flush();
    expect(log).toEqual(['start a', 'start b']);
    expect(pool.active).toBe(2);
    b.finish();
    await flush();
    expect(log).toEqual(['start a', 'start b', 'end b', 'start c']);
    a.finish();
    c.finish();
    await pool.onIdle();
    expect(pool.size).toBe(0);
  });

  it('lets a key with a backlog take turns with the others', async () => {
    const pool = newPool(1, 100);
    const order: string[] = [];
    const record = (name: string) => async () => void order.push(name);
    const first = controllableTask(order, 'a1');
    await pool.submit('a', first.run);
    for (const name of ['a2', 'a3']) await pool.submit('a', record(name));
    await pool.submit('b', record('b1'));
    first.finish();
    await pool.onIdle();
    expect(order).toEqual(['start a1', 'end a1', 'b1', 'a2', 'a3']);
  });

  it('makes submit wait while the pool is full, calling whileWaiting', async () => {
    const pool = newPool(1, 2);
    const log: string[] = [];
    const [a, b] = ['a', 'b'].map((name) => controllableTask(log, name));
    await pool.submit('a', a.run);
    await pool.submit('b', b.run);
    let waits = 0;
    let accepted = false;
    const third = pool
      .submit(
        'c',
        async () => undefined,
        async () => void (waits += 1),
        5,
      )
      .then(() => (accepted = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(accepted).toBe(false);
    expect(waits).toBeGreaterThan(0);
    a.finish();
    await third;
    expect(accepted).toBe(true);
    b.finish();
    await pool.onIdle();
  });

  it('keeps going after a task throws, and reports it', async () => {
    const reported: unknown[] = [];
    const pool = new KeyedWorkPool(1, 10, (key, error) => reported.push([key, error]));
    const order: string[] = [];
    await pool.submit('a', async () => {
      throw new Error('boom');
    });
    await pool.submit('a', async () => void order.push('after'));
    await pool.onIdle();
    expect(order).toEqual(['after']);
    expect(reported).toEqual([['a', new Error('boom')]]);
  });
});
