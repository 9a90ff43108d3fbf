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
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_HEADERS = 20;
const MAX_VALUE_LENGTH = 1024;

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
    if (!TOKEN.test(name)) problems.push(`"${name}" is not a valid header name`);
    else if (RESERVED_HEADERS.has(name.toLowerCase()))
      problems.push(`"${name}" is set by the service`);
    if (typeof headerValue !== 'string') problems.push(`"${name}" must have a string value`);
    else if (/[\r\n\0]/.test(headerValue) || headerValue.length > MAX_VALUE_LENGTH) {
      problems.push(`"${name}" has an invalid value`);
    }
  }
  return problems;
}
