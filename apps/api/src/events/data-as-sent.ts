import type { FastifyRequest } from 'fastify';
import { jsonBodyText } from '../common/json-body.parser';

/**
 * Text without these holds no key the pipe strips: "__proto__" and "prototype" contain
 * "proto", and a key spelled with escapes (\u005f_proto__) contains a backslash.
 */
const MAY_HOLD_STRIPPED_KEYS = /proto|constructor|\\/;

/**
 * The event's `data` exactly as the client sent it. Nest's ValidationPipe deletes every key
 * named `__proto__`, `prototype` or `constructor`, at any depth, from a body before it builds
 * the request object (a guard against prototype pollution): legitimate fields of an event's
 * data, such as a product's "prototype" flag, would vanish from the delivered event without a
 * word. So the data is read again from the body's text. JSON.parse makes such keys ordinary own
 * properties (it never sets a prototype), the event only ever travels as JSON, and the rest of
 * the request was validated from the very same text (its depth included, checked before the
 * pipe strips anything). Most bodies hold none of these keys and are not read again.
 */
export function dataAsSent(
  request: FastifyRequest,
  validated: Record<string, unknown>,
): Record<string, unknown> {
  const text = jsonBodyText(request);
  if (text === undefined || !MAY_HOLD_STRIPPED_KEYS.test(text)) return validated;
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
