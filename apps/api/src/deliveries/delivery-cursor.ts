import { DeliveryPosition } from '@libs/persistence';
import { ApiError, ApiErrorCode } from '../common/api.errors';

/** Cursors are opaque to clients: base64url of where the previous page ended. */
export function encodeCursor(position: DeliveryPosition): string {
  return Buffer.from(`t:${position.createdAtMicros}:s:${position.seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): DeliveryPosition {
  const decoded = Buffer.from(cursor, 'base64url').toString();
  const match = /^t:(\d{1,17}):s:(\d{1,18})$/.exec(decoded);
  if (!match) {
    throw new ApiError(ApiErrorCode.InvalidCursor, 'cursor is not a cursor this API returned');
  }
  return { createdAtMicros: match[1], seq: match[2] };
}
