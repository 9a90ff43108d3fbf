/**
 * A real single-node Apache Kafka broker (KRaft: broker and controller in one JVM) run from
 * Kafka's own jars, which Maven fetches once into a cache folder outside the clone.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { ensureBrokerTls, type BrokerTls } from './broker-tls';
import {
  errorMessage,
  formatSeconds,
  isAlive,
  readPidFile,
  runCommand,
  sendSignal,
  sleep,
  tailFile,
  terminate,
  waitForExit,
} from './process';

export const DEFAULT_KAFKA_VERSION = '3.9.1';

/** The broker version of the local infra, `npm test` and `npm run up`: KAFKA_VERSION or 3.9.1. */
export const KAFKA_VERSION = kafkaVersion(process.env.KAFKA_VERSION);

function kafkaVersion(requested: string | undefined): string {
  const version = requested?.trim() || DEFAULT_KAFKA_VERSION;
  if (!/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(
      `KAFKA_VERSION must be a Kafka release such as 3.9.1 or 4.1.1, got "${version}"`,
    );
  }
  return version;
}

/** Kafka 4 moved its logging from reload4j to log4j2: jars, config file and JVM flag differ. */
const USES_LOG4J2 = Number(KAFKA_VERSION.split('.')[0]) >= 4;

const JAR_DEPENDENCIES = [
  { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version: KAFKA_VERSION },
  // Kafka logs through SLF4J 1.7 (its pom pins slf4j-api 1.7.36) but does not pull a backend;
  // its distribution ships reload4j up to 3.9 and log4j2 from 4.0 on.
  ...(USES_LOG4J2
    ? [
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: '2.24.3' },
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: '2.24.3' },
      ]
    : [
        { groupId: 'org.slf4j', artifactId: 'slf4j-reload4j', version: '1.7.36' },
        { groupId: 'ch.qos.reload4j', artifactId: 'reload4j', version: '1.2.25' },
      ]),
];
// Pinned: Maven 3.8 would otherwise pick a plugin version too old to be trusted here.
const COPY_DEPENDENCIES =
  'org.apache.maven.plugins:maven-dependency-plugin:3.7.1:copy-dependencies';
const COMPLETE_MARKER = '.complete';
const JVM_OPTIONS = ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC'];
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 20_000;

export interface ScramUser {
  name: string;
  password: string;
}

export interface BrokerOptions {
  dataDir: string;
  port: number;
  controllerPort: number;
  /** A detached broker outlives this process; an attached one is stopped when it exits. */
  detached: boolean;
  /**
   * An extra SASL_SSL listener (SCRAM-SHA-512 over TLS, as managed Kafka offers it), with a
   * throwaway CA made in the data dir. The users are created when the storage is formatted,
   * so they must be given on the broker's first start.
   */
  saslSsl?: { port: number; users: ScramUser[] };
}

export interface BrokerStatus {
  brokers: string;
  /** False when a broker was already answering there: the caller must not stop it. */
  startedHere: boolean;
  /** The SASL_SSL listener, when one was asked for. */
  saslSsl?: { brokers: string; caFile: string };
}

/** Starts the broker unless one already runs from `dataDir` or answers on the port. */
export async function startBroker(options: BrokerOptions): Promise<BrokerStatus> {
  const brokers = `127.0.0.1:${options.port}`;
  const files = brokerFiles(options.dataDir);
  const tls = options.saslSsl ? await ensureBrokerTls(files.tlsDir) : undefined;
  const saslSsl =
    options.saslSsl && tls
      ? { brokers: `127.0.0.1:${options.saslSsl.port}`, caFile: tls.ca.pemFile }
      : undefined;
  const runningPid = await runningBrokerPid(files);
  if (runningPid !== undefined) {
    await waitUntilReady(brokers, runningPid, files);
    return { brokers, startedHere: false, saslSsl };
  }
  if (await brokerAnswers(brokers)) return { brokers, startedHere: false, saslSsl };

  const jars = await ensureKafkaJars();
  const started = Date.now();
  await writeConfig(options, files, tls);
  await formatStorage(jars, files, options.saslSsl?.users ?? []);
  const pid = await launch(jars, options, files);
  try {
    await waitUntilReady(brokers, pid, files);
  } catch (error) {
    await stopBroker(options.dataDir);
    throw error;
  }
  const extra = saslSsl ? ` (SASL_SSL on ${saslSsl.brokers})` : '';
  console.error(
    `[kafka] Kafka ${KAFKA_VERSION} ready on ${brokers}${extra} in ${formatSeconds(Date.now() - started)}`,
  );
  return { brokers, startedHere: true, saslSsl };
}

/**
 * Stops the broker whose pid file is in `dataDir`; false when none was running. SIGTERM
 * shuts it down cleanly (SIGKILL after a grace period); `kill: true` sends SIGKILL at once,
 * as a crash or an OOM kill would, for tests of an outage.
 */
export async function stopBroker(dataDir: string, { kill = false } = {}): Promise<boolean> {
  const files = brokerFiles(dataDir);
  const pid = await runningBrokerPid(files);
  if (pid !== undefined) {
    attachedPids.delete(pid);
    if (kill) {
      sendSignal(pid, 'SIGKILL');
      await waitForExit(pid, STOP_GRACE_MS);
    } else {
      await terminate(pid, STOP_GRACE_MS);
    }
  }
  await rm(files.pidFile, { force: true });
  return pid !== undefined;
}

/** True when `java` runs: the local broker cannot start without it. */
export function javaAvailable(): Promise<boolean> {
  return runCommand('java', ['-version']).then(
    (result) => result.code === 0,
    () => false,
  );
}

/** True when a broker at `brokers` answers an admin request. */
export async function brokerAnswers(brokers: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'infra-probe',
    brokers: brokers.split(','),
    connectionTimeout: 1_000,
    requestTimeout: 3_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export function jarCacheDir(): string {
  const cacheHome = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cacheHome, 'kafka-webhooks', `kafka-${KAFKA_VERSION}`);
}

/** Returns the folder of Kafka's jars, fetching them first when the cache lacks them. */
export async function ensureKafkaJars(): Promise<string> {
  const dir = jarCacheDir();
  const marker = path.join(dir, COMPLETE_MARKER);
  if (existsSync(marker)) return dir;

  console.error(`[kafka] fetching Apache Kafka ${KAFKA_VERSION} jars with Maven into ${dir} ...`);
  const started = Date.now();
  await mkdir(path.dirname(dir), { recursive: true });
  // Staged beside the final folder so the closing rename is atomic: a crash leaves no half cache.
  const staging = await mkdtemp(`${dir}.partial-`);
  const pomDir = await mkdtemp(path.join(os.tmpdir(), 'kafka-jars-pom-'));
  try {
    await writeFile(path.join(pomDir, 'pom.xml'), throwawayPom());
    const maven = await runCommand(
      'mvn',
      ['-B', '-q', COPY_DEPENDENCIES, `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'],
      { cwd: pomDir },
    );
    if (maven.code !== 0) throw new Error(`mvn exited with ${maven.code}:\n${maven.output}`);
    if (!existsSync(path.join(staging, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
      throw new Error('Maven finished but the Kafka jar is not among the files it copied');
    }
    await writeFile(path.join(staging, COMPLETE_MARKER), `${new Date().toISOString()}\n`);
    await chmod(staging, 0o755);
    await publishStaging(staging, dir, marker);
  } catch (error) {
    throw new Error(
      `Could not fetch the Kafka jars: ${errorMessage(error)}. Maven and a JDK 17+ are needed ` +
        'the first time; or set KAFKA_BROKERS to use a broker you already run.',
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(pomDir, { recursive: true, force: true });
  }
  console.error(`[kafka] fetched the jars in ${formatSeconds(Date.now() - started)}`);
  return dir;
}

async function publishStaging(staging: string, dir: string, marker: string): Promise<void> {
  if (existsSync(dir) && !existsSync(marker)) await rm(dir, { recursive: true, force: true });
  try {
    await rename(staging, dir);
  } catch (error) {
    // Another run may have finished the same fetch first; its copy is as good as ours.
    if (!existsSync(marker)) throw error;
  }
}

function throwawayPom(): string {
  const dependencies = JAR_DEPENDENCIES.map(
    (d) =>
      `    <dependency><groupId>${d.groupId}</groupId><artifactId>${d.artifactId}</artifactId>` +
      `<version>${d.version}</version></dependency>`,
  ).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka-webhooks</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${dependencies}
  </dependencies>
</project>
`;
}

/** Everything one broker keeps, inside its data dir. */
function brokerFiles(dataDir: string) {
  return {
    dataDir,
    serverProperties: path.join(dataDir, 'server.properties'),
    log4jProperties: path.join(dataDir, USES_LOG4J2 ? 'log4j2.properties' : 'log4j.properties'),
    tlsDir: path.join(dataDir, 'tls'),
    clusterId: path.join(dataDir, 'cluster.id'),
    logDirs: path.join(dataDir, 'kafka-data'),
    serverLog: path.join(dataDir, 'server.log'),
    jvmOutput: path.join(dataDir, 'jvm.out'),
    pidFile: path.join(dataDir, 'broker.pid'),
  };
}

type BrokerFiles = ReturnType<typeof brokerFiles>;

async function runningBrokerPid(files: BrokerFiles): Promise<number | undefined> {
  const pid = await readPidFile(files.pidFile);
  return pid !== undefined && isAlive(pid, files.serverProperties) ? pid : undefined;
}

/** Rewritten on every start, so changed ports or settings take effect; the data is kept. */
async function writeConfig(
  options: BrokerOptions,
  files: BrokerFiles,
  tls: BrokerTls | undefined,
): Promise<void> {
  await mkdir(files.logDirs, { recursive: true });
  await writeFile(files.serverProperties, serverProperties(options, files.logDirs, tls));
  await writeFile(
    files.log4jProperties,
    USES_LOG4J2 ? log4j2Properties(files.serverLog) : log4jProperties(files.serverLog),
  );
}

function serverProperties(
  options: BrokerOptions,
  logDirs: string,
  tls: BrokerTls | undefined,
): string {
  const { port, controllerPort } = options;
  const saslSslPort = tls ? options.saslSsl?.port : undefined;
  const saslSsl = saslSslPort === undefined ? '' : `,SASL_SSL://127.0.0.1:${saslSslPort}`;
  return toProperties({
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${saslSsl}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}${saslSsl}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map':
      'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT' + (saslSsl ? ',SASL_SSL:SASL_SSL' : ''),
    ...(tls && saslSsl ? saslSslProperties(tls) : {}),
    'log.dirs': logDirs,
    'num.partitions': 1,
    // With the default of 3 replicas, internal topics (and so consumer groups) never form here.
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    // The default 50 partitions make the first consumer group join slow on a small machine.
    'offsets.topic.num.partitions': 5,
    // The apps create their topic at start-up with the partition count they are configured for.
    'auto.create.topics.enable': false,
    'group.initial.rebalance.delay.ms': 0,
    'log.retention.hours': 168,
  });
}

/**
 * SCRAM-SHA-512 over TLS on the SASL_SSL listener only (Kafka's "Authentication using SASL"
 * and "Encryption and Authentication using SSL" docs): the JAAS line carries no user, the
 * users live in the cluster metadata (created at format time); the broker and controller
 * still talk to each other over PLAINTEXT on loopback.
 */
function saslSslProperties(tls: BrokerTls): Record<string, string> {
  return {
    'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.ssl.keystore.type': 'PKCS12',
    'listener.name.sasl_ssl.ssl.keystore.location': tls.keystore,
    'listener.name.sasl_ssl.ssl.keystore.password': tls.password,
    'listener.name.sasl_ssl.ssl.key.password': tls.password,
  };
}

/** Kafka 4.x: the same file appender in log4j2's properties syntax. */
function log4j2Properties(serverLog: string): string {
  return toProperties({
    'appender.file.type': 'RollingFile',
    'appender.file.name': 'file',
    'appender.file.fileName': serverLog,
    'appender.file.filePattern': `${serverLog}.%i`,
    'appender.file.layout.type': 'PatternLayout',
    'appender.file.layout.pattern': '[%d] %p %m (%c)%n',
    'appender.file.policies.type': 'Policies',
    'appender.file.policies.size.type': 'SizeBasedTriggeringPolicy',
    'appender.file.policies.size.size': '50MB',
    'appender.file.strategy.type': 'DefaultRolloverStrategy',
    'appender.file.strategy.max': 2,
    'rootLogger.level': 'INFO',
    'rootLogger.appenderRef.file.ref': 'file',
    'logger.request.name': 'kafka.request.logger',
    'logger.request.level': 'WARN',
  });
}

/** The broker logs to a file in its data dir: its chatter has no place in test or app output. */
function log4jProperties(serverLog: string): string {
  return toProperties({
    'log4j.rootLogger': 'INFO, file',
    'log4j.appender.file': 'org.apache.log4j.RollingFileAppender',
    'log4j.appender.file.File': serverLog,
    'log4j.appender.file.MaxFileSize': '50MB',
    'log4j.appender.file.MaxBackupIndex': 2,
    'log4j.appender.file.layout': 'org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern': '[%d] %p %m (%c)%n',
    'log4j.logger.kafka.request.logger': 'WARN',
  });
}

function toProperties(settings: Record<string, string | number | boolean>): string {
  const escape = (value: string | number | boolean) => String(value).replace(/\\/g, '\\\\');
  return Object.entries(settings)
    .map(([key, value]) => `${key}=${escape(value)}\n`)
    .join('');
}

/** KRaft storage must be formatted once with a cluster id, which is kept for later starts. */
async function formatStorage(
  jars: string,
  files: BrokerFiles,
  scramUsers: ScramUser[],
): Promise<void> {
  if (existsSync(path.join(files.logDirs, 'meta.properties'))) return;
  const clusterId = await readOrCreateClusterId(files.clusterId);
  // KRaft keeps SCRAM credentials in the cluster metadata; format time is when they can be
  // made without a running broker.
  const scram = scramUsers.flatMap((user) => [
    '--add-scram',
    `SCRAM-SHA-512=[name=${user.name},password=${user.password}]`,
  ]);
  const result = await runCommand(
    'java',
    javaArgs(jars, files, [
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      files.serverProperties,
      '--ignore-formatted',
      ...scram,
    ]),
  );
  if (result.code !== 0) throw new Error(`Formatting Kafka storage failed:\n${result.output}`);
}

async function readOrCreateClusterId(file: string): Promise<string> {
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (existing) return existing;
  const clusterId = newClusterId();
  await writeFile(file, `${clusterId}\n`);
  return clusterId;
}

/** The form of Kafka's own ids: 16 random bytes in unpadded URL-safe base64. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka's tools reject ids starting with '-', which would read as a command-line flag.
    if (!id.startsWith('-')) return id;
  }
}

function javaArgs(jars: string, files: BrokerFiles, mainArgs: string[]): string[] {
  const logConfig = USES_LOG4J2
    ? `-Dlog4j2.configurationFile=${files.log4jProperties}`
    : `-Dlog4j.configuration=${pathToFileURL(files.log4jProperties).href}`;
  return [logConfig, '-cp', path.join(jars, '*'), ...mainArgs];
}

const attachedPids = new Set<number>();

function stopAttachedBrokersOnExit(pid: number): void {
  if (attachedPids.size === 0) {
    process.on('exit', () => {
      for (const attached of attachedPids) sendSignal(attached, 'SIGTERM');
    });
  }
  attachedPids.add(pid);
}

async function launch(jars: string, options: BrokerOptions, files: BrokerFiles): Promise<number> {
  const output = openSync(files.jvmOutput, 'a');
  try {
    // Always its own process group: a Ctrl-C in the terminal reaches the apps, which must shut
    // down while the broker is still there; the broker is stopped after them.
    const child = spawn(
      'java',
      [...JVM_OPTIONS, ...javaArgs(jars, files, ['kafka.Kafka', files.serverProperties])],
      { cwd: files.dataDir, detached: true, stdio: ['ignore', output, output] },
    );
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) =>
        reject(new Error(`Could not start java (JDK 17+ needed): ${errorMessage(error)}`)),
      );
    });
    const pid = child.pid;
    if (pid === undefined) throw new Error('java started without a pid');
    await writeFile(files.pidFile, `${pid}\n`);
    if (options.detached) child.unref();
    else stopAttachedBrokersOnExit(pid);
    return pid;
  } finally {
    closeSync(output);
  }
}

async function waitUntilReady(brokers: string, pid: number, files: BrokerFiles): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await brokerAnswers(brokers))) {
    if (!isAlive(pid)) throw await startFailure('exited during start-up', files);
    if (Date.now() > deadline) {
      throw await startFailure(`did not answer within ${READY_TIMEOUT_MS / 1000} s`, files);
    }
    await sleep(500);
  }
}

async function startFailure(what: string, files: BrokerFiles): Promise<Error> {
  const log = await tailFile(files.serverLog, 40);
  const jvm = await tailFile(files.jvmOutput, 20);
  const sections = [`Kafka broker ${what}.`];
  if (log) sections.push(`Last lines of ${files.serverLog}:\n${log}`);
  if (jvm) sections.push(`Last lines of ${files.jvmOutput}:\n${jvm}`);
  return new Error(sections.join('\n'));
}
