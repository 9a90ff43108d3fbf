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
  const newPool = (concurrency: number) =>
    new KeyedWorkPool(concurrency, (_key, error) => failures.push(error));

  afterEach(() => expect(failures).toEqual([]));

  it('runs tasks of one key one after another, in submission order', async () => {
    const pool = newPool(4);
    const log: string[] = [];
    const tasks = ['a1', 'a2', 'a3'].map((name) => controllableTask(log, name));
    tasks.forEach((task) => pool.submit('a', task.run));
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

  it('tells whether a new key would start at once: a free slot and no key waiting for one', async () => {
    const pool = newPool(2);
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((name) => controllableTask(log, name));
    expect(pool.startsAtOnce).toBe(true);
    pool.submit('a', a.run);
    expect(pool.startsAtOnce).toBe(true);
    pool.submit('b', b.run);
    expect(pool.startsAtOnce).toBe(false);
    pool.submit('c', c.run);
    a.finish();
    await flush();
    // a's slot went to c, which was waiting for one.
    expect(log).toEqual(['start a', 'start b', 'end a', 'start c']);
    expect(pool.startsAtOnce).toBe(false);
    b.finish();
    await flush();
    expect(pool.startsAtOnce).toBe(true);
    c.finish();
    await pool.onIdle();
  });

  it('runs different keys in parallel up to the concurrency', async () => {
    const pool = newPool(2);
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((name) => controllableTask(log, name));
    pool.submit('a', a.run);
    pool.submit('b', b.run);
    pool.submit('c', c.run);
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
    const pool = newPool(1);
    const order: string[] = [];
    const record = (name: string) => async () => void order.push(name);
    const first = controllableTask(order, 'a1');
    pool.submit('a', first.run);
    for (const name of ['a2', 'a3']) pool.submit('a', record(name));
    pool.submit('b', record('b1'));
    first.finish();
    await pool.onIdle();
    expect(order).toEqual(['start a1', 'end a1', 'b1', 'a2', 'a3']);
  });

  it('keeps going after a task throws, and reports it', async () => {
    const reported: unknown[] = [];
    const pool = new KeyedWorkPool(1, (key, error) => reported.push([key, error]));
    const order: string[] = [];
    pool.submit('a', async () => {
      throw new Error('boom');
    });
    pool.submit('a', async () => void order.push('after'));
    await pool.onIdle();
    expect(order).toEqual(['after']);
    expect(reported).toEqual([['a', new Error('boom')]]);
  });
});
