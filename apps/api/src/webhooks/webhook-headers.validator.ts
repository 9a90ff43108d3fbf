import { validateHeaderName, validateHeaderValue } from 'node:http';
import {
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';

/** Headers the service sets itself; a webhook may not replace them. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'host',
  'connection',
  'transfer-encoding',
  // Connection-level: the HTTP client manages them (undici refuses a request that sets them).
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-connection',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);
const MAX_HEADERS = 20;
const MAX_VALUE_LENGTH = 1024;
/** Visible ASCII, spaces and tabs: what RFC 9110 allows in a field value, obsolete text aside. */
const ASCII_VALUE = /^[\t\x20-\x7e]*$/;

/** Custom headers sent with every request to a webhook: valid HTTP names and values, none reserved. */
@ValidatorConstraint({ name: 'webhookHeaders' })
export class WebhookHeadersConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return headerProblems(value).length === 0;
  }

  defaultMessage(args: ValidationArguments): string {
    return `${args.property}: ${headerProblems(args.value).join('; ')}`;
  }
}

function headerProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return ['must be an object of header names to string values'];
  }
  const entries = Object.entries(value);
  const problems: string[] = [];
  if (entries.length > MAX_HEADERS) problems.push(`at most ${MAX_HEADERS} headers`);
  for (const [name, headerValue] of entries) {
    // Quoted as JSON so a control character in a name shows up readable in the message.
    const quoted = JSON.stringify(name);
    if (!nodeAccepts(() => validateHeaderName(name))) {
      problems.push(`${quoted} is not a valid header name`);
    } else if (RESERVED_HEADERS.has(name.toLowerCase())) {
      problems.push(`${quoted} is set by the service`);
    }
    if (typeof headerValue !== 'string') {
      problems.push(`${quoted} must have a string value`);
    } else if (headerValue.length > MAX_VALUE_LENGTH) {
      problems.push(`${quoted} has a value longer than ${MAX_VALUE_LENGTH} characters`);
    } else if (
      // Node's own rule is the one that decides at delivery; it lets Latin-1 through, which
      // it would send as single bytes rather than the UTF-8 the user meant, so ASCII only.
      !nodeAccepts(() => validateHeaderValue(name, headerValue)) ||
      !ASCII_VALUE.test(headerValue)
    ) {
      problems.push(`${quoted} has a value with control or non-ASCII characters`);
    }
  }
  return problems;
}

/** Node's header validators throw (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR) rather than answer. */
function nodeAccepts(check: () => void): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}
