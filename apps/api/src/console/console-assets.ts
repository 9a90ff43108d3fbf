import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The files `npm run build` writes for the console (scripts/build-console.ts), by URL name. */
export const CONSOLE_FILES = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
} as const;

export type ConsoleFile = keyof typeof CONSOLE_FILES;

export function isConsoleFile(name: string): name is ConsoleFile {
  return Object.hasOwn(CONSOLE_FILES, name);
}

/**
 * Where the built console lives: dist/console, beside dist/apps/api where the bundled api
 * runs from; the working directory's dist/console otherwise (an api run from source).
 */
export function consoleAssetsDir(): string | undefined {
  return [join(__dirname, '..', '..', 'console'), join(process.cwd(), 'dist', 'console')].find(
    (dir) => existsSync(join(dir, 'index.html')),
  );
}

/**
 * Headers of every console response. The page runs only its own script (no inline code, no
 * other origin), talks only to this api, and cannot be framed, so an injected string or a
 * hostile page framing it cannot reach the key held in the tab's session storage.
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};
