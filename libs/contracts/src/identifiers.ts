/**
 * Ids chosen by event sources (event ids, account ids, campaign ids): UUIDs, ULIDs,
 * `msg_…` style ids. Printable, URL-safe, at most 128 characters.
 */
export const EXTERNAL_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Dotted event types such as `user.created` or `invoice.payment_failed`. */
export const EVENT_TYPE_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const EVENT_TYPE_MAX_LENGTH = 128;
