/**
 * Kafka, PostgreSQL and the built apps for one benchmark run, chosen the way `npm test` chooses
 * them (scripts/run-tests.ts), with everything started here registered for cleanup.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { startBroker, stopBroker } from '../scripts/infra/kafka-broker';
import { repoRoot } from '../scripts/infra/local';
import {
  LOCAL_TEST_SERVER_URL,
  createScratchDatabase,
  probeServer,
  startThrowawayPostgres,
} from '../scripts/infra/postgres';
import {
  type Cleanup,
  errorMessage,
  formatSeconds,
  freePorts,
  runInherited,
  temporaryDir,
} from '../scripts/infra/process';
import { loadEncryptionConfig } from '@libs/config';
import { TEST_ENCRYPTION_KEYS } from '@libs/testing';
import { migrate } from '../scripts/migrate';

export interface Infrastructure {
  brokers: string;
  databaseUrl: string;
  /** Set when the broker was started for this run: its JVM is found by this folder. */
  kafkaDataDir?: string;
  /** True when KAFKA_BROKERS named a broker that outlives the run: topics must be deleted. */
  externalKafka: boolean;
}

/** Starts (or picks) Kafka and PostgreSQL and builds the apps if needed, all side by side. */
export async function prepare(cleanup: Cleanup): Promise<Infrastructure> {
  const started = Date.now();
  const [kafka, database, build] = await Promise.allSettled([
    kafkaForBench(cleanup),
    databaseForBench(cleanup),
    buildIfStale(),
  ]);
  if (kafka.status === 'rejected') throw kafka.reason;
  if (database.status === 'rejected') throw database.reason;
  if (build.status === 'rejected') throw build.reason;
  await migrate(
    database.value,
    loadEncryptionConfig({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }),
  ).catch((error: unknown) => {
    throw new Error(`migrations failed: ${errorMessage(error)}`);
  });
  console.error(`[bench] infrastructure ready in ${formatSeconds(Date.now() - started)}`);
  return { ...kafka.value, databaseUrl: database.value };
}

async function kafkaForBench(
  cleanup: Cleanup,
): Promise<Pick<Infrastructure, 'brokers' | 'kafkaDataDir' | 'externalKafka'>> {
  const configured = process.env.KAFKA_BROKERS;
  if (configured) {
    console.error(`[bench] Kafka: ${configured} (KAFKA_BROKERS)`);
    return { brokers: configured, externalKafka: true };
  }
  const dataDir = await temporaryDir(cleanup, 'webhooks-bench-kafka');
  cleanup.add(async () => {
    await stopBroker(dataDir);
  });
  const [port, controllerPort] = await freePorts(2);
  const { brokers } = await startBroker({ dataDir, port, controllerPort, detached: false });
  return { brokers, kafkaDataDir: dataDir, externalKafka: false };
}

async function databaseForBench(cleanup: Cleanup): Promise<string> {
  const configured = process.env.DATABASE_URL;
  if (configured) {
    console.error('[bench] PostgreSQL: DATABASE_URL (its bench rows are left in place)');
    return configured;
  }
  const serverUrl = await postgresServer(cleanup);
  const database = await createScratchDatabase(serverUrl, 'webhooks_bench');
  cleanup.add(database.drop);
  console.error(`[bench] PostgreSQL: scratch database ${database.name}`);
  return database.url;
}

async function postgresServer(cleanup: Cleanup): Promise<string> {
  const problem = await probeServer(LOCAL_TEST_SERVER_URL);
  if (problem === undefined) return LOCAL_TEST_SERVER_URL;
  console.error(`[bench] no usable PostgreSQL on 127.0.0.1:5432 (${problem}): starting one`);
  const { serverUrl } = await startThrowawayPostgres(cleanup, 'webhooks-bench');
  return serverUrl;
}

/** A temp dir removed at the end of the run, after what runs in it has been stopped. */
const BUILT_APPS = ['api', 'worker'].map((app) =>
  path.join(repoRoot, 'dist', 'apps', app, 'main.js'),
);
const BUILD_INPUTS = ['apps', 'libs', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];

/** Runs `npm run build` when a built app is missing or older than any of its sources. */
async function buildIfStale(): Promise<void> {
  const reason = await staleReason();
  if (reason === undefined) return;
  console.error(`[bench] building the apps: ${reason}`);
  const started = Date.now();
  await runInherited('npm', ['run', 'build'], { cwd: repoRoot });
  console.error(`[bench] apps built in ${formatSeconds(Date.now() - started)}`);
}

async function staleReason(): Promise<string | undefined> {
  const missing = BUILT_APPS.find((file) => !existsSync(file));
  if (missing) return `${path.relative(repoRoot, missing)} is missing`;
  const builtAt = Math.min(...(await Promise.all(BUILT_APPS.map(modifiedAt))));
  for (const input of BUILD_INPUTS) {
    const newest = await newestModification(path.join(repoRoot, input));
    if (newest > builtAt) return `${input} changed since the last build`;
  }
  return undefined;
}

async function modifiedAt(file: string): Promise<number> {
  return (await stat(file)).mtimeMs;
}

async function newestModification(target: string): Promise<number> {
  const info = await stat(target);
  if (!info.isDirectory()) return info.mtimeMs;
  const entries = await readdir(target, { recursive: true, withFileTypes: true });
  const files = entries
    // Tests are not part of the build: editing one must not trigger a rebuild.
    .filter((entry) => entry.isFile() && /(?<!spec)\.ts$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name));
  const times = await Promise.all(files.map(modifiedAt));
  return Math.max(info.mtimeMs, ...times);
}
