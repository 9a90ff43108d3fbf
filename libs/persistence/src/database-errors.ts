import { QueryFailedError } from 'typeorm';

/**
 * Postgres refused the data itself (SQLSTATE class 22: data exception, 23: integrity
 * constraint): trying the same statement again gives the same answer, unlike a lost
 * connection or a deadlock.
 */
export function isPermanentDataError(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code: unknown = Reflect.get(error.driverError, 'code');
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
