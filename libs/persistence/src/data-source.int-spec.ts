import { DataSource } from 'typeorm';
import { requiredVariable } from '@libs/testing';
import { dataSourceOptions } from './data-source';
import { plainQuery } from './plain-sql';

/** A statement over an array, as the worker's are: Postgres would re-plan it per batch. */
const OVER_AN_ARRAY = `SELECT count(*)::int AS n FROM unnest($1::int[]) AS i (v) WHERE v > 0`;

async function open(genericPlans: boolean): Promise<DataSource> {
  return new DataSource(
    dataSourceOptions(requiredVariable('DATABASE_URL'), 1, { genericPlans }),
  ).initialize();
}

async function plansOf(dataSource: DataSource): Promise<{ generic: number; custom: number }> {
  const [row]: { generic_plans: string; custom_plans: string }[] = await dataSource.query(
    `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1`,
    [OVER_AN_ARRAY],
  );
  return { generic: Number(row.generic_plans), custom: Number(row.custom_plans) };
}

/**
 * Opens a pool of one connection (the one TypeORM opened while initialising), runs the
 * statement over arrays of 1 to 8 items, and tells the session's plan_cache_mode and how
 * Postgres planned the statement.
 */
async function planEightCalls(
  genericPlans: boolean,
): Promise<{ mode: string; plans: { generic: number; custom: number } }> {
  const dataSource = await open(genericPlans);
  try {
    const [{ plan_cache_mode: mode }]: { plan_cache_mode: string }[] =
      await dataSource.query('SHOW plan_cache_mode');
    const sql = plainQuery(dataSource);
    for (let size = 1; size <= 8; size += 1) {
      const [{ n }] = await sql<{ n: number }>(OVER_AN_ARRAY, [
        Array.from({ length: size }, (_, i) => i + 1),
      ]);
      expect(n).toBe(size);
    }
    return { mode, plans: await plansOf(dataSource) };
  } finally {
    await dataSource.destroy();
  }
}

describe('database connections on a real Postgres', () => {
  it('with genericPlans, plan a prepared statement once, also on the connection opened first', async () => {
    const { mode, plans } = await planEightCalls(true);
    expect(mode).toBe('force_generic_plan');
    expect(plans).toEqual({ generic: 8, custom: 0 });
  });

  it('without, leave the choice to Postgres (the api: its history filters are ad hoc)', async () => {
    const { mode, plans } = await planEightCalls(false);
    expect(mode).toBe('auto');
    // Postgres's own rule: the first five executions get a plan of their own.
    expect(plans.custom).toBeGreaterThanOrEqual(5);
  });
});
