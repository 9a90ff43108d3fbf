import type { FastifyRequest } from 'fastify';
import { jsonBodyText } from '../common/json-body.parser';

/**
 * The event's `data` exactly as the client sent it. Nest's ValidationPipe deletes every key
 * named `__proto__`, `prototype` or `constructor`, at any depth, from a body before it builds
 * the request object (a guard against prototype pollution): legitimate fields of an event's
 * data, such as a product's "prototype" flag, would vanish from the delivered event without a
 * word. So the data is read again from the body's text. JSON.parse makes such keys ordinary own
 * properties (it never sets a prototype), the event only ever travels as JSON, and the rest of
 * the request was validated from the very same text (its depth included, checked before the
 * pipe strips anything).
 */
export function dataAsSent(
  request: FastifyRequest,
  validated: Record<string, unknown>,
): Record<string, unknown> {
  const text = jsonBodyText(request);
  if (text === undefined) return validated;
  const body: unknown = JSON.parse(text);
  const data: unknown =
    typeof body === 'object' && body !== null && Object.hasOwn(body, 'data')
      ? (body as { data: unknown }).data
      : undefined;
  return isPlainObject(data) ? data : validated;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
