import { KeyedWorkPool } from './keyed-work-pool';

/** A task that finishes when the test says so, recording when it started and ended. */
function controllableTask(log: string[], name: string) {
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const run = async () => {
    log.push(`start ${name}`);
    await done;
    log.push(`end ${name}`);
  };
  return { run, finish };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyedWorkPool', () => {
  const failures: unknown[] = [];
  const newPool = (concurrency: number, capacity: number, perKeyLimit = capacity) =>
    new KeyedWorkPool(concurrency, capacity, perKeyLimit, (_key, error) => failures.push(error));

  afterEach(() => expect(failures).toEqual([]));

  it('runs tasks of one key one after another, in submission order', async () => {
    const pool = newPool(4, 100);
    const log: string[] = [];
    const tasks = ['a1', 'a2', 'a3'].map((name) => controllableTask(log, name));
    tasks.forEach((task) => expect(pool.trySubmit('a', task.run)).toBe(true));
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
    pool.trySubmit('a', a.run);
    pool.trySubmit('b', b.run);
    pool.trySubmit('c', c.run);
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
    pool.trySubmit('a', first.run);
    for (const name of ['a2', 'a3']) pool.trySubmit('a', record(name));
    pool.trySubmit('b', record('b1'));
    first.finish();
    await pool.onIdle();
    expect(order).toEqual(['start a1', 'end a1', 'b1', 'a2', 'a3']);
  });

  it('refuses a task once its key holds perKeyLimit, while other keys still get in', async () => {
    const pool = newPool(2, 10, 2);
    const log: string[] = [];
    const [a1, a2] = ['a1', 'a2'].map((name) => controllableTask(log, name));
    expect(pool.trySubmit('a', a1.run)).toBe(true);
    expect(pool.trySubmit('a', a2.run)).toBe(true);
    expect(pool.heldFor('a')).toBe(2);
    expect(pool.trySubmit('a', async () => undefined)).toBe(false);
    expect(pool.trySubmit('b', async () => undefined)).toBe(true);
    a1.finish();
    await flush();
    expect(pool.heldFor('a')).toBe(1);
    expect(pool.trySubmit('a', async () => undefined)).toBe(true);
    a2.finish();
    await pool.onIdle();
  });

  it('refuses every task once it holds capacity tasks', async () => {
    const pool = newPool(1, 2);
    const log: string[] = [];
    const [a, b] = ['a', 'b'].map((name) => controllableTask(log, name));
    expect(pool.trySubmit('a', a.run)).toBe(true);
    expect(pool.trySubmit('b', b.run)).toBe(true);
    expect(pool.trySubmit('c', async () => undefined)).toBe(false);
    a.finish();
    await flush();
    expect(pool.trySubmit('c', async () => undefined)).toBe(true);
    b.finish();
    await pool.onIdle();
  });

  it('keeps going after a task throws, and reports it', async () => {
    const reported: unknown[] = [];
    const pool = new KeyedWorkPool(1, 10, 10, (key, error) => reported.push([key, error]));
    const order: string[] = [];
    pool.trySubmit('a', async () => {
      throw new Error('boom');
    });
    pool.trySubmit('a', async () => void order.push('after'));
    await pool.onIdle();
    expect(order).toEqual(['after']);
    expect(reported).toEqual([['a', new Error('boom')]]);
  });
});
