import { createHash } from 'node:crypto';
import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** A parameterised statement run on a pooled connection; resolves to its rows. */
export type PlainQuery = <Row>(text: string, parameters?: unknown[]) => Promise<Row[]>;

interface PgPool {
  query: <Row>(config: { name: string; text: string; values: unknown[] }) => Promise<{
    rows: Row[];
  }>;
}

/**
 * Runs statements straight on the pg pool that TypeORM's DataSource owns (same connections,
 * same settings), without a QueryRunner per call: on the worker's hot path, where a handful
 * of statements carry every event, the ORM's per-query bookkeeping is measurable and buys
 * nothing. Errors are pg's own (`code` is the SQLSTATE); `isPermanentDataError` reads both.
 *
 * Each statement is prepared once per connection (a named statement) and then only bound
 * and executed: Postgres parsed and planned the worker's large batch statements on every
 * call before, which cost a quarter of its time on them (pg_stat_statements, track_planning).
 * Statement texts must therefore be fixed: values go in parameters, never into the text.
 */
export function plainQuery(dataSource: DataSource): PlainQuery {
  const driver = dataSource.driver;
  if (!(driver instanceof PostgresDriver))
    throw new Error('plainQuery needs a Postgres DataSource');
  return async <Row>(text: string, parameters: unknown[] = []): Promise<Row[]> => {
    const pool = driver.master as PgPool;
    const result = await pool.query<Row>({ name: statementName(text), text, values: parameters });
    return result.rows;
  };
}

const names = new Map<string, string>();

/** A stable name per statement text, the same in every process. */
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `kw_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}
