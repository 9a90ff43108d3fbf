import { ApiError, ApiErrorCode } from '../common/api.errors';

/** Cursors are opaque to clients: base64url of the last row's sequence number. */
export function encodeCursor(seq: string): string {
  return Buffer.from(`s:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString();
  const match = /^s:(\d{1,19})$/.exec(decoded);
  if (!match)
    throw new ApiError(ApiErrorCode.InvalidCursor, 'cursor is not a cursor this API returned');
  return match[1];
}
