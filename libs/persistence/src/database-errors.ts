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

/** SQLSTATEs of a server that cannot serve now: connection exceptions, shutdown, overload. */
const UNAVAILABLE_STATES = /^(08...|57P0[1-3]|53300)$/;
/** How Node and node-postgres say that no connection could be made or kept. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
]);
const UNREACHABLE_MESSAGES = /timeout exceeded when trying to connect|Connection terminated/i;

/**
 * Postgres could not be reached or is shutting down: not the request's fault, and worth
 * trying again later (an HTTP 503), unlike a statement it refused.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const source = driverErrorOf(error);
  if (source === null) return false;
  const code: unknown = Reflect.get(source, 'code');
  if (typeof code === 'string' && (UNAVAILABLE_STATES.test(code) || UNREACHABLE_CODES.has(code))) {
    return true;
  }
  const message: unknown = Reflect.get(source, 'message');
  return typeof message === 'string' && UNREACHABLE_MESSAGES.test(message);
}

/**
 * The error as the driver raised it (TypeORM wraps query errors). Read by shape, not by
 * `instanceof`: errors raised by Node's sockets may come from another realm (as under Jest).
 */
function driverErrorOf(error: unknown): object | null {
  if (typeof error !== 'object' || error === null) return null;
  const wrapped: unknown = Reflect.get(error, 'driverError');
  return typeof wrapped === 'object' && wrapped !== null ? wrapped : error;
}
