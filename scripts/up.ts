/**
 * `npm run up`: the whole service on this machine in one command.
 *
 * Kafka: KAFKA_BROKERS if set, else the local broker (127.0.0.1:19092, data in .local/kafka).
 * PostgreSQL: DATABASE_URL if set, else the embedded one (127.0.0.1:15432, data in
 * .local/postgres). Both are reused when already running, and then left running at the end.
 * Builds, migrates, runs `api` and `worker`, and stops everything it started on Ctrl-C.
 * The admin key and the encryption key are generated once into .local/ unless set.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { EncryptionConfig, loadEncryptionConfig } from '@libs/config';
import {
  ADMIN_API_KEY_FILE,
  ENCRYPTION_KEYS_FILE,
  repoRoot,
  startLocalKafka,
  startLocalPostgres,
  stopLocalKafka,
  stopLocalPostgres,
} from './infra/local';
import {
  Cleanup,
  errorMessage,
  onShutdownSignal,
  runInherited,
  sleep,
  stopChild,
} from './infra/process';
import { migrate } from './migrate';

const APP_STOP_GRACE_MS = 30_000;
const READY_TIMEOUT_MS = 120_000;

const cleanup = new Cleanup();
let stopping = false;

interface Infrastructure {
  KAFKA_BROKERS: string;
  DATABASE_URL: string;
}

async function main(): Promise<void> {
  onShutdownSignal(() => {
    console.error('\n[up] stopping ...');
    void finish(0);
  });
  const adminApiKey = await loadAdminApiKey();
  const encryptionKeys = await loadEncryptionKeys();
  const encryption = loadEncryptionConfig({ ...process.env, ENCRYPTION_KEYS: encryptionKeys });
  // The build and the broker's start-up both take seconds: run them side by side.
  const [infrastructure, build] = await Promise.allSettled([startInfrastructure(), buildApps()]);
  if (infrastructure.status === 'rejected') throw infrastructure.reason;
  if (build.status === 'rejected') throw build.reason;
  const infra = infrastructure.value;
  await migrate(infra.DATABASE_URL, encryption).catch((error: unknown) => {
    throw new Error(`migrations failed: ${errorMessage(error)}`);
  });

  const env = appEnvironment(infra, adminApiKey, encryptionKeys);
  const apps = [startApp('api', env), startApp('worker', env)];
  cleanup.add(async () => {
    await Promise.all(apps.map((app) => stopChild(app, APP_STOP_GRACE_MS)));
  });
  const apiUrl = `http://127.0.0.1:${env.API_PORT ?? '3000'}`;
  const workerUrl = `http://127.0.0.1:${env.WORKER_PORT ?? '3001'}`;
  await Promise.all([
    waitUntilReady(`${apiUrl}/health/ready`),
    waitUntilReady(`${workerUrl}/health/ready`),
  ]);
  printBanner({ adminApiKey, apiUrl, workerUrl, infra, encryption });
}

let finishing: Promise<never> | undefined;

/** Stops the apps, then the infrastructure this run started, and exits; first caller wins. */
function finish(code: number): Promise<never> {
  stopping = true;
  finishing ??= cleanup.run().then(() => process.exit(code));
  return finishing;
}

async function loadAdminApiKey(): Promise<string> {
  const configured = process.env.ADMIN_API_KEY;
  if (configured) return configured;
  const saved = (await readFile(ADMIN_API_KEY_FILE, 'utf8').catch(() => '')).trim();
  if (saved) return saved;
  const key = randomBytes(32).toString('base64url');
  await mkdir(path.dirname(ADMIN_API_KEY_FILE), { recursive: true });
  await writeFile(ADMIN_API_KEY_FILE, `${key}\n`, { mode: 0o600 });
  console.error(`[up] generated an admin API key, kept in ${ADMIN_API_KEY_FILE}`);
  return key;
}

/**
 * ENCRYPTION_KEYS if set; none when ENCRYPTION_ALLOW_PLAINTEXT is; else the key generated on
 * the first run, kept beside the embedded Postgres whose secrets it encrypts.
 */
async function loadEncryptionKeys(): Promise<string | undefined> {
  const configured = process.env.ENCRYPTION_KEYS;
  if (configured) return configured;
  if (/^(true|1|yes)$/.test(process.env.ENCRYPTION_ALLOW_PLAINTEXT ?? '')) return undefined;
  const saved = (await readFile(ENCRYPTION_KEYS_FILE, 'utf8').catch(() => '')).trim();
  if (saved) return saved;
  const keys = `local-1:${randomBytes(32).toString('base64')}`;
  await mkdir(path.dirname(ENCRYPTION_KEYS_FILE), { recursive: true });
  await writeFile(ENCRYPTION_KEYS_FILE, `${keys}\n`, { mode: 0o600 });
  console.error(`[up] generated an encryption key, kept in ${ENCRYPTION_KEYS_FILE}`);
  return keys;
}

async function startInfrastructure(): Promise<Infrastructure> {
  const [brokers, databaseUrl] = await Promise.all([kafka(), postgres()]);
  return { KAFKA_BROKERS: brokers, DATABASE_URL: databaseUrl };
}

async function kafka(): Promise<string> {
  const configured = process.env.KAFKA_BROKERS;
  if (configured) {
    console.error(`[kafka] using KAFKA_BROKERS=${configured}`);
    return configured;
  }
  const status = await startLocalKafka(false);
  if (status.startedHere) {
    cleanup.add(async () => {
      await stopLocalKafka();
      console.error('[kafka] broker stopped');
    });
  }
  return status.brokers;
}

async function postgres(): Promise<string> {
  const configured = process.env.DATABASE_URL;
  if (configured) {
    console.error('[postgres] using DATABASE_URL');
    return configured;
  }
  const local = await startLocalPostgres(false);
  if (local.startedHere) {
    cleanup.add(async () => {
      await stopLocalPostgres();
      console.error('[postgres] embedded server stopped');
    });
  }
  return local.databaseUrl;
}

function buildApps(): Promise<void> {
  return runInherited('npm', ['run', 'build'], { cwd: repoRoot });
}

function appEnvironment(
  infra: Infrastructure,
  adminApiKey: string,
  encryptionKeys: string | undefined,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...infra, ADMIN_API_KEY: adminApiKey };
  if (encryptionKeys) env.ENCRYPTION_KEYS = encryptionKeys;
  if (env.WEBHOOK_ALLOW_PRIVATE_NETWORKS === undefined) {
    // Receivers run on this machine during development, on loopback addresses.
    env.WEBHOOK_ALLOW_PRIVATE_NETWORKS = 'true';
    console.error(
      '[up] WEBHOOK_ALLOW_PRIVATE_NETWORKS=true: webhooks may target private and loopback ' +
        'addresses. This is a development setting; keep it false in production.',
    );
  }
  return env;
}

function startApp(name: string, env: NodeJS.ProcessEnv): ChildProcess {
  const entry = path.join(repoRoot, 'dist', 'apps', name, 'main.js');
  // Its own process group: a Ctrl-C reaches only this script, which stops the apps first and the
  // broker after them (the apps need it to shut down cleanly).
  const child = spawn(process.execPath, [entry], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  prefixLines(child.stdout, process.stdout, name);
  prefixLines(child.stderr, process.stderr, name);
  process.on('exit', () => child.kill('SIGTERM'));
  child.once('error', (error) => {
    console.error(`[up] could not start ${name}: ${error.message}`);
    void finish(1);
  });
  child.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`[up] ${name} exited (${signal ?? `code ${code}`}): stopping everything`);
    void finish(1);
  });
  return child;
}

function prefixLines(
  from: NodeJS.ReadableStream | null,
  to: NodeJS.WritableStream,
  name: string,
): void {
  if (!from) return;
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) =>
    to.write(`[${name}] ${line}\n`),
  );
}

async function waitUntilReady(url: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await answers200(url))) {
    if (Date.now() > deadline) {
      throw new Error(`${url} did not answer 200 within ${READY_TIMEOUT_MS / 1000} s`);
    }
    await sleep(500);
  }
}

async function answers200(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.status === 200;
  } catch {
    return false;
  }
}

function printBanner(info: {
  adminApiKey: string;
  apiUrl: string;
  workerUrl: string;
  infra: Infrastructure;
  encryption: EncryptionConfig;
}): void {
  // The key itself stays in its file: it is not needed to use the service.
  const [key] = info.encryption.keys;
  const encryption = key
    ? `key "${key.id}"${process.env.ENCRYPTION_KEYS ? ' (ENCRYPTION_KEYS)' : ` in ${ENCRYPTION_KEYS_FILE}`}`
    : 'off (ENCRYPTION_ALLOW_PLAINTEXT=true)';
  const rule = '-'.repeat(72);
  console.log(
    [
      '',
      rule,
      'kafka-webhooks is running. Ctrl-C stops everything this command started.',
      '',
      `API:            ${info.apiUrl}`,
      `API docs:       ${info.apiUrl}/docs`,
      `Console:        ${info.apiUrl}/console`,
      `Worker health:  ${info.workerUrl}/health/ready`,
      `Encryption:     ${encryption}`,
      '',
      `ADMIN_API_KEY=${info.adminApiKey}`,
      `KAFKA_BROKERS=${info.infra.KAFKA_BROKERS}`,
      `DATABASE_URL=${info.infra.DATABASE_URL}`,
      rule,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  console.error(`[up] ${errorMessage(error)}`);
  void finish(1);
});
