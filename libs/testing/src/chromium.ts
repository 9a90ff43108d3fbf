import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where Debian's chromium package puts the browser. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

let installing: Promise<string> | undefined;

/**
 * The path of a Chromium to drive with playwright-core: Debian's package, installed with
 * apt-get when missing, so a fresh CI machine runs the browser tests too. Playwright's own
 * browser download is not used: it fetches a build from outside the package registries.
 * When the browser cannot be had this throws, so the browser tests fail instead of skipping.
 */
export function chromiumExecutable(): Promise<string> {
  const found = CANDIDATES.find((candidate) => existsSync(candidate));
  if (found) return Promise.resolve(found);
  installing ??= installChromium();
  return installing;
}

async function installChromium(): Promise<string> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'Chromium is missing and this user cannot install it: run "apt-get install -y chromium" as root',
    );
  }
  console.warn('[test] Chromium is missing: installing Debian package "chromium" with apt-get');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], env);
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], env);
  const installed = CANDIDATES.find((candidate) => existsSync(candidate));
  if (!installed) throw new Error('apt-get installed chromium, but no chromium binary was found');
  return installed;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`)),
    );
  });
}
