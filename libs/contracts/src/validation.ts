import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { WebhookEventMessage } from './webhook-event';

export type ParsedEventMessage =
  { valid: true; event: WebhookEventMessage } | { valid: false; reason: string };

/**
 * Reads a Kafka message value. Anything else than a valid event (null, not JSON, wrong
 * shape) comes back as a reason instead of an exception, so the consumer can skip it.
 * Unknown fields are dropped rather than refused: other producers may add their own.
 */
export function parseEventMessage(value: Buffer | string | null | undefined): ParsedEventMessage {
  if (value === null || value === undefined || value.length === 0) {
    return { valid: false, reason: 'empty message value' };
  }
  let json: unknown;
  try {
    json = JSON.parse(value.toString());
  } catch {
    return { valid: false, reason: 'message value is not JSON' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { valid: false, reason: 'message value is not a JSON object' };
  }
  const event = plainToInstance(WebhookEventMessage, json);
  const errors = validateSync(event, { whitelist: true });
  if (errors.length > 0) {
    return { valid: false, reason: describeValidationErrors(errors).join('; ') };
  }
  return { valid: true, event };
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
