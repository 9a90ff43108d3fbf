import { ValidationError, validateSync } from 'class-validator';
import { MAX_JSON_DEPTH, exceedsJsonDepth } from './json-depth';
import { WebhookEventMessage } from './webhook-event';

/** Why a message is not an event: a short code (a metric label, a DLQ header) and a sentence. */
export type InvalidMessageCode =
  'empty' | 'too_large' | 'not_json' | 'not_an_object' | 'too_deep' | 'invalid_event';

export type ParsedEventMessage =
  | { valid: true; event: WebhookEventMessage }
  | { valid: false; code: InvalidMessageCode; reason: string };

/**
 * Reads a Kafka message value. Anything else than a valid event (null, oversize, not JSON,
 * nested too deeply, wrong shape) comes back as a reason instead of an exception, so the
 * consumer can set it aside: this function never throws, whatever the bytes.
 * Unknown fields are dropped rather than refused: other producers may add their own.
 */
export function parseEventMessage(
  value: Buffer | string | null | undefined,
  maxBytes = Number.POSITIVE_INFINITY,
): ParsedEventMessage {
  if (value === null || value === undefined || value.length === 0) {
    return invalid('empty', 'empty message value');
  }
  const size = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
  if (size > maxBytes) {
    return invalid('too_large', `message value is ${size} bytes, more than ${maxBytes}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(value.toString());
  } catch {
    return invalid('not_json', 'message value is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return invalid('not_an_object', 'message value is not a JSON object');
  }
  if (exceedsJsonDepth(json)) {
    return invalid('too_deep', `message value nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  try {
    const event = eventOf(json as Record<string, unknown>);
    const errors = validateSync(event, { whitelist: true });
    if (errors.length > 0) {
      return invalid('invalid_event', describeValidationErrors(errors).join('; '));
    }
    return { valid: true, event };
  } catch (error) {
    // Not expected once the depth is bounded; a validator bug must not jam the partition.
    return invalid('invalid_event', `message value could not be validated: ${String(error)}`);
  }
}

/**
 * The event's own fields, read by name: anything else in the object stays behind, and `data`
 * is kept as parsed (posted to the webhooks as is). class-transformer's plainToInstance copied
 * every nested value (a few percent of the worker's CPU), dropped "__proto__" keys and threw on
 * a "constructor" key anywhere in data, which sent a valid event to the dead-letter topic.
 */
function eventOf(json: Record<string, unknown>): WebhookEventMessage {
  const event = new WebhookEventMessage();
  Object.assign(event, {
    id: ownField(json, 'id'),
    type: ownField(json, 'type'),
    account_id: ownField(json, 'account_id'),
    campaign_id: ownField(json, 'campaign_id'),
    data: ownField(json, 'data'),
    timestamp: ownField(json, 'timestamp'),
  });
  return event;
}

/** A field of the parsed object itself, never one inherited from Object.prototype. */
function ownField(json: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(json, name) ? json[name] : undefined;
}

function invalid(code: InvalidMessageCode, reason: string): ParsedEventMessage {
  return { valid: false, code, reason };
}

/** One readable line per failed constraint, nested properties included. */
export function describeValidationErrors(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {});
    const nested = describeValidationErrors(error.children ?? [], path);
    return [...own, ...nested];
  });
}
