import { DataSource } from 'typeorm';
import { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** A parameterised statement run on a pooled connection; resolves to its rows. */
export type PlainQuery = <Row>(text: string, parameters?: unknown[]) => Promise<Row[]>;

/**
 * Runs statements straight on the pg pool that TypeORM's DataSource owns (same connections,
 * same settings), without a QueryRunner per call: on the worker's hot path, where a handful
 * of statements carry every event, the ORM's per-query bookkeeping is measurable and buys
 * nothing. Errors are pg's own (`code` is the SQLSTATE); `isPermanentDataError` reads both.
 */
export function plainQuery(dataSource: DataSource): PlainQuery {
  const driver = dataSource.driver;
  if (!(driver instanceof PostgresDriver))
    throw new Error('plainQuery needs a Postgres DataSource');
  return async <Row>(text: string, parameters: unknown[] = []): Promise<Row[]> => {
    const pool = driver.master as {
      query: (text: string, values: unknown[]) => Promise<{ rows: Row[] }>;
    };
    const result = await pool.query(text, parameters);
    return result.rows;
  };
}
