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

describe('database connections on a real Postgres', () => {
  it('with genericPlans, plan a prepared statement once, also on the connection opened first', async () => {
    const dataSource = await open(true);
    try {
      // A pool of one: this is the connection TypeORM opened while initialising.
      const [{ plan_cache_mode }]: { plan_cache_mode: string }[] =
        await dataSource.query('SHOW plan_cache_mode');
      expect(plan_cache_mode).toBe('force_generic_plan');
      const sql = plainQuery(dataSource);
      for (let size = 1; size <= 8; size += 1) {
        const [{ n }] = await sql<{ n: number }>(OVER_AN_ARRAY, [
          Array.from({ length: size }, (_, i) => i + 1),
        ]);
        expect(n).toBe(size);
      }
      expect(await plansOf(dataSource)).toEqual({ generic: 8, custom: 0 });
    } finally {
      await dataSource.destroy();
    }
  });

  it('without, leave the choice to Postgres (the api: its history filters are ad hoc)', async () => {
    const dataSource = await open(false);
    try {
      const [{ plan_cache_mode }]: { plan_cache_mode: string }[] =
        await dataSource.query('SHOW plan_cache_mode');
      expect(plan_cache_mode).toBe('auto');
      const sql = plainQuery(dataSource);
      for (let size = 1; size <= 8; size += 1) await sql(OVER_AN_ARRAY, [[size]]);
      // Postgres's own rule: the first five executions get a plan of their own.
      expect((await plansOf(dataSource)).custom).toBeGreaterThanOrEqual(5);
    } finally {
      await dataSource.destroy();
    }
  });
});
