import { ValidationOptions, Matches } from 'class-validator';

/**
 * For free text stored in Postgres, which refuses NUL (U+0000) in text and jsonb: refused at
 * validation with a 400 rather than by the database with a 500.
 */
export function NoNulCharacters(options?: ValidationOptions): PropertyDecorator {
  return Matches(/^[^\0]*$/, {
    message: ({ property }) => `${property} must not contain NUL characters`,
    ...options,
  });
}
