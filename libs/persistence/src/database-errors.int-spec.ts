import { DataSource } from 'typeorm';
import { requiredVariable } from '@libs/testing';
import { dataSourceOptions } from './data-source';
import { isDatabaseUnavailable, isPermanentDataError } from './database-errors';

/** The errors real outages raise, told apart from the ones a bad statement raises. */
describe('database error classes on a real Postgres', () => {
  it('calls a server nobody listens on unavailable', async () => {
    const nowhere = new DataSource(dataSourceOptions('postgres://postgres@127.0.0.1:1/test', 1));
    const failure = await nowhere.initialize().then(
      () => null,
      (error: unknown) => error,
    );
    expect(isDatabaseUnavailable(failure)).toBe(true);
    expect(isPermanentDataError(failure)).toBe(false);
  });

  it('calls a connection the server terminates unavailable, and a refused value permanent', async () => {
    const dataSource = await new DataSource(
      dataSourceOptions(requiredVariable('DATABASE_URL'), 1),
    ).initialize();
    try {
      const refused = await dataSource.query(`SELECT 'x'::int`).then(
        () => null,
        (error: unknown) => error,
      );
      expect(isPermanentDataError(refused)).toBe(true);
      expect(isDatabaseUnavailable(refused)).toBe(false);
      const terminated = await dataSource
        .query('SELECT pg_terminate_backend(pg_backend_pid())')
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(isDatabaseUnavailable(terminated)).toBe(true);
    } finally {
      await dataSource.destroy();
    }
  });
});
