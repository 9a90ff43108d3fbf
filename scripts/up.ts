/**
 * `npm run up`: the whole service on this machine in one command.
 *
 * Mode: direct (DELIVERY_MODE=direct, no Kafka at all) with `--direct` or DELIVERY_MODE=direct,
 * and when neither KAFKA_BROKERS nor Java is there; Kafka mode otherwise.
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
import { parseArgs } from 'node:util';
import { EncryptionConfig, loadEncryptionConfig } from '@libs/config';
import { javaAvailable } from './infra/kafka-broker';
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

type DeliveryMode = 'kafka' | 'direct';

interface Infrastructure {
  DELIVERY_MODE: DeliveryMode;
  /** Unset in direct mode. */
  KAFKA_BROKERS?: string;
  DATABASE_URL: string;
}

const USAGE = `npm run up [-- --direct]

  --direct  deliver without Kafka (DELIVERY_MODE=direct): events go straight to Postgres
            and the worker takes them from there. Chosen by itself on a machine without Java.`;

async function main(): Promise<void> {
  onShutdownSignal(() => {
    console.error('\n[up] stopping ...');
    void finish(0);
  });
  const forceDirect = parseOptions(process.argv.slice(2)).direct;
  const adminApiKey = await loadAdminApiKey();
  const mode = await chooseMode(forceDirect);
  const encryptionKeys = await loadEncryptionKeys();
  const encryption = loadEncryptionConfig({ ...process.env, ENCRYPTION_KEYS: encryptionKeys });
  // The build and the broker's start-up both take seconds: run them side by side.
  const [infrastructure, build] = await Promise.allSettled([
    startInfrastructure(mode),
    buildApps(),
  ]);
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

function parseOptions(argv: string[]): { direct: boolean } {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { direct: { type: 'boolean', default: false }, help: { type: 'boolean' } },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    return { direct: values.direct ?? false };
  } catch (error) {
    console.error(`[up] ${errorMessage(error)}\n\n${USAGE}`);
    process.exit(2);
  }
}

/**
 * Kafka mode unless asked otherwise, or unless there is no broker to use (no KAFKA_BROKERS) and
 * no Java to run the local one: then direct mode, said in one line with the way to Kafka mode.
 */
async function chooseMode(forceDirect: boolean): Promise<DeliveryMode> {
  const requested = process.env.DELIVERY_MODE;
  if (forceDirect || requested === 'direct') {
    console.error('[up] direct mode (DELIVERY_MODE=direct): no Kafka is used');
    return 'direct';
  }
  if (requested || process.env.KAFKA_BROKERS) return 'kafka';
  if (await javaAvailable()) return 'kafka';
  console.error(
    '[up] No Java found: starting in direct mode (events go straight to Postgres, no Kafka). ' +
      'For Kafka mode, install a JDK 17+ or set KAFKA_BROKERS, and run npm run up again.',
  );
  return 'direct';
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

async function startInfrastructure(mode: DeliveryMode): Promise<Infrastructure> {
  if (mode === 'direct') return { DELIVERY_MODE: mode, DATABASE_URL: await postgres() };
  const [brokers, databaseUrl] = await Promise.all([kafka(), postgres()]);
  return { DELIVERY_MODE: mode, KAFKA_BROKERS: brokers, DATABASE_URL: databaseUrl };
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
  // Direct mode reads no Kafka setting; a stray one must not suggest otherwise.
  if (infra.DELIVERY_MODE === 'direct') delete env.KAFKA_BROKERS;
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
      `DELIVERY_MODE=${info.infra.DELIVERY_MODE}`,
      ...(info.infra.KAFKA_BROKERS ? [`KAFKA_BROKERS=${info.infra.KAFKA_BROKERS}`] : []),
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
