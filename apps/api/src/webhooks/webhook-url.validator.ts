import { ValidationOptions, registerDecorator } from 'class-validator';

/**
 * The worker dials `new URL(url)`, so a URL it cannot parse could never be delivered to:
 * class-validator's isURL lets through some that WHATWG URL refuses (invalid punycode such
 * as `xn--a.com`, IPv6 zone ids such as `[fe80::1%25eth0]`). A NUL is refused too: Postgres
 * cannot store it in text.
 */
export function isParsableUrl(value: unknown): boolean {
  return typeof value === 'string' && !value.includes('\0') && URL.canParse(value);
}

export function IsParsableUrl(options?: ValidationOptions): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isParsableUrl',
      target: target.constructor,
      propertyName: String(propertyName),
      options: {
        message: `${String(propertyName)} must be a URL that a WHATWG URL parser accepts`,
        ...options,
      },
      validator: { validate: isParsableUrl },
    });
}
