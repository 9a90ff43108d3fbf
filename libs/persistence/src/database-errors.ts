import { QueryFailedError } from 'typeorm';

/**
 * Postgres refused the data itself (SQLSTATE class 22: data exception, 23: integrity
 * constraint): trying the same statement again gives the same answer, unlike a lost
 * connection or a deadlock. Reads TypeORM's wrapped errors and pg's own.
 */
export function isPermanentDataError(error: unknown): boolean {
  const source: unknown = error instanceof QueryFailedError ? error.driverError : error;
  if (typeof source !== 'object' || source === null) return false;
  const code: unknown = Reflect.get(source, 'code');
  const fromPostgres = error instanceof QueryFailedError || Reflect.has(source, 'severity');
  return (
    fromPostgres && typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'))
  );
}
