import { ValidateIf } from 'class-validator';

/**
 * A field that may be left out but, when present, must be valid: unlike @IsOptional, null is
 * validated (and refused) rather than skipped. For columns that cannot hold null, where a
 * PATCH with `null` would otherwise reach the database and fail there with a 500.
 */
export function Omittable(): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined);
}
