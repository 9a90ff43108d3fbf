import { ValidationOptions, registerDecorator } from 'class-validator';

/** RFC 3339: a full date and time with an explicit offset, as Standard Webhooks and JSON APIs use. */
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** True for an RFC 3339 date-time that names a real instant (no 2025-02-30, no week dates). */
export function isRfc3339DateTime(value: unknown): value is string {
  if (typeof value !== 'string' || !RFC_3339.test(value)) return false;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) return false;
  // Date rolls 2025-02-30 over into March; the calendar day must survive the round trip.
  const [year, month, day] = value.slice(0, 10).split('-').map(Number);
  const offsetMinutes = offsetOf(value);
  const local = new Date(parsed.getTime() + offsetMinutes * 60_000);
  return (
    local.getUTCFullYear() === year &&
    local.getUTCMonth() + 1 === month &&
    local.getUTCDate() === day
  );
}

function offsetOf(value: string): number {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(value);
  if (!match) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '+' ? minutes : -minutes;
}

/** class-validator decorator for isRfc3339DateTime. */
export function IsRfc3339DateTime(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isRfc3339DateTime',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: `${String(propertyName)} must be an RFC 3339 date-time with an offset, e.g. 2025-01-01T12:00:00Z`,
        ...options,
      },
      validator: { validate: isRfc3339DateTime },
    });
}
