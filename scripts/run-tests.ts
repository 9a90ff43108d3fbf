/**
 * `npm test`: the whole Jest suite against a real Kafka broker and a real PostgreSQL.
 *
 * Kafka: KAFKA_BROKERS if set, else one fresh broker for the run (temp dir, free ports).
 * PostgreSQL: DATABASE_URL if set (used as is), else the server on 127.0.0.1:5432 when it
 * answers, else an embedded one in a temp dir (TEST_EMBEDDED_POSTGRES=true skips the probe); on
 * those two a fresh database is created for the run and dropped after it.
 * The e2e tests run the built apps: `npm run build` runs first, while the infrastructure starts.
 * Extra arguments go to jest: `npm test -- --selectProjects unit` starts no infrastructure.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startBroker, stopBroker } from './infra/kafka-broker';
import { repoRoot } from './infra/local';
import {
  LOCAL_TEST_SERVER_URL,
  createScratchDatabase,
  probeServer,
  startThrowawayPostgres,
} from './infra/postgres';
import {
  Cleanup,
  errorMessage,
  formatSeconds,
  freePorts,
  onShutdownSignal,
  runInherited,
  temporaryDir,
  signalExitCode,
  stopChild,
} from './infra/process';
import { loadEncryptionConfig } from '@libs/config';
import { TEST_ENCRYPTION_KEYS } from '@libs/testing';
import { migrate } from './migrate';

const cleanup = new Cleanup();

interface Infrastructure {
  KAFKA_BROKERS: string;
  DATABASE_URL: string;
}

interface Choice {
  value: string;
  description: string;
}

async function main(): Promise<void> {
  onShutdownSignal((signal) => void finish(signalExitCode(signal)));
  const jestArgs = process.argv.slice(2);
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Tests that need private addresses allowed say so themselves.
  delete env.WEBHOOK_ALLOW_PRIVATE_NETWORKS;
  Object.assign(env, await prepare(selectedProjects(jestArgs)));
  await finish(await runJest(jestArgs, env));
}

let finishing: Promise<never> | undefined;

/** Releases everything this run started, then exits; the first caller's exit code wins. */
function finish(code: number): Promise<never> {
  finishing ??= cleanup.run().then(() => process.exit(code));
  return finishing;
}

/** The projects named with --selectProjects; undefined when jest runs them all. */
function selectedProjects(jestArgs: string[]): string[] | undefined {
  const projects: string[] = [];
  let named = false;
  for (let i = 0; i < jestArgs.length; i += 1) {
    const arg = jestArgs[i];
    if (arg.startsWith('--selectProjects=')) {
      named = true;
      projects.push(arg.slice('--selectProjects='.length));
    } else if (arg === '--selectProjects') {
      named = true;
      while (i + 1 < jestArgs.length && !jestArgs[i + 1].startsWith('-')) {
        i += 1;
        projects.push(jestArgs[i]);
      }
    }
  }
  return named ? projects : undefined;
}

/**
 * Unit tests need neither Kafka nor PostgreSQL; e2e tests run the built apps, so they are built
 * first, side by side with the start of the infrastructure.
 */
async function prepare(projects: string[] | undefined): Promise<Partial<Infrastructure>> {
  const needsInfrastructure = projects === undefined || projects.some((p) => p !== 'unit');
  const needsBuild = projects === undefined || projects.includes('e2e');
  if (!needsInfrastructure) {
    console.error('[test] only the unit project is selected: no Kafka or PostgreSQL started');
  }
  const [infrastructure, build] = await Promise.allSettled([
    needsInfrastructure ? startInfrastructure() : Promise.resolve({}),
    needsBuild ? buildApps() : Promise.resolve(),
  ]);
  if (infrastructure.status === 'rejected') throw infrastructure.reason;
  if (build.status === 'rejected') throw build.reason;
  return infrastructure.value;
}

async function buildApps(): Promise<void> {
  const started = Date.now();
  await runInherited('npm', ['run', 'build'], { cwd: repoRoot });
  console.error(`[test] apps built for the e2e tests in ${formatSeconds(Date.now() - started)}`);
}

async function startInfrastructure(): Promise<Infrastructure> {
  const started = Date.now();
  // Both are awaited even when one fails, so nothing is still starting while cleanup runs.
  const [kafka, postgres] = await Promise.allSettled([kafkaForTests(), postgresForTests()]);
  if (kafka.status === 'rejected') throw kafka.reason;
  if (postgres.status === 'rejected') throw postgres.reason;
  console.error(
    `[test] infrastructure ready in ${formatSeconds(Date.now() - started)}: ` +
      `Kafka ${kafka.value.description}; PostgreSQL ${postgres.value.description}`,
  );
  await migrate(
    postgres.value.value,
    loadEncryptionConfig({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }),
  ).catch((error: unknown) => {
    throw new Error(`migrations failed: ${errorMessage(error)}`);
  });
  return { KAFKA_BROKERS: kafka.value.value, DATABASE_URL: postgres.value.value };
}

async function kafkaForTests(): Promise<Choice> {
  const configured = process.env.KAFKA_BROKERS;
  if (configured) return { value: configured, description: `${configured} (KAFKA_BROKERS)` };
  const dataDir = await temporaryDir(cleanup, 'webhooks-test-kafka');
  cleanup.add(async () => {
    await stopBroker(dataDir);
  });
  const [port, controllerPort] = await freePorts(2);
  const { brokers } = await startBroker({ dataDir, port, controllerPort, detached: false });
  return { value: brokers, description: `broker started for this run on ${brokers}` };
}

async function postgresForTests(): Promise<Choice> {
  const configured = process.env.DATABASE_URL;
  if (configured) return { value: configured, description: 'from DATABASE_URL' };
  const server = await postgresServerForTests();
  const database = await createScratchDatabase(server.value);
  cleanup.add(database.drop);
  return { value: database.url, description: `${server.description}, database ${database.name}` };
}

async function postgresServerForTests(): Promise<Choice> {
  if (process.env.TEST_EMBEDDED_POSTGRES !== 'true') {
    const problem = await probeServer(LOCAL_TEST_SERVER_URL);
    if (problem === undefined) {
      return { value: LOCAL_TEST_SERVER_URL, description: 'server on 127.0.0.1:5432' };
    }
    console.error(
      `[test] no usable PostgreSQL on 127.0.0.1:5432 (${problem}): using an embedded one`,
    );
  }
  const { serverUrl, port } = await startThrowawayPostgres(cleanup, 'webhooks-test');
  return { value: serverUrl, description: `embedded server on 127.0.0.1:${port}` };
}

/** A temp dir removed at the end of the run (after what runs in it has been stopped). */
function runJest(jestArgs: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // Two test files at a time even on 2 cores: the fault scenarios spend most of their time
  // waiting (an outage of a minute, session timeouts, slow receivers), not computing.
  const workers = jestArgs.some((arg) => /^(--maxWorkers|-w|--runInBand|-i)\b/.test(arg))
    ? []
    : ['--maxWorkers=2'];
  const jest = spawn(
    path.join(repoRoot, 'node_modules', '.bin', 'jest'),
    [...workers, ...jestArgs],
    {
      cwd: repoRoot,
      env,
      stdio: 'inherit',
    },
  );
  cleanup.add(() => stopChild(jest, 10_000));
  return new Promise((resolve, reject) => {
    jest.once('error', reject);
    jest.once('exit', (code, signal) => resolve(code ?? (signal ? signalExitCode(signal) : 1)));
  });
}

main().catch((error: unknown) => {
  console.error(`[test] ${errorMessage(error)}`);
  void finish(1);
});
