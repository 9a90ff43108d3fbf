/**
 * `npm run bench`: throughput, raw limit, latency and memory of the service, on this machine,
 * loopback only. Prints a table and writes bench/results/latest.json (the contract's keys).
 *
 * 1. Throughput: N events over M accounts (one webhook each, on a local receiver) published
 *    through POST /v1/events; ingest_per_s counts the 202s. By default the worker starts once
 *    the events are all in Kafka and drains the backlog (--live runs it during ingest instead);
 *    delivered_per_s is N over the time from the first arrival to the last.
 * 2. Raw limit: the same N events through a bare kafkajs producer and consumer, the consumer
 *    POSTing with a keep-alive agent (bench/raw-consumer.ts): N over first to last arrival.
 * 3. Latency: events published one by one at a fixed rate; publish call start to arrival.
 *
 * Exits non-zero when an event went missing or a publish failed: such a run is not a result.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { ApiClient, TEST_ENCRYPTION_KEYS } from '@libs/testing';
import {
  Cleanup,
  errorMessage,
  formatSeconds,
  isAlive,
  onShutdownSignal,
  signalExitCode,
} from '../scripts/infra/process';
import { sleep } from './concurrency';
import { accountIds, makeEvents } from './events';
import { KeepAlivePoster } from './http-client';
import { prepare, type Infrastructure } from './infra';
import { type BenchOptions, parseOptions } from './options';
import {
  CpuMeter,
  type CpuShare,
  PeakRssSampler,
  type ProcessGroup,
  findAppPids,
} from './process-stats';
import { produceRaw, startRawConsumer, stopRawConsumer } from './raw-pipeline';
import { type ArrivalLog, LeanReceiver, type WaitLimits, waitForArrivals } from './receiver';
import {
  type BenchResult,
  type CpuRow,
  RESULTS_FILE,
  type Row,
  machineDescription,
  perSecond,
  percentile,
  printCpuTable,
  printTable,
  round,
  writeResult,
} from './report';
import {
  type IngestResult,
  type PacedResult,
  createWebhooks,
  publishAll,
  publishAtRate,
  startApp,
} from './service';

/** The service's default partition count; the raw topic gets the same. */
const PARTITIONS = 10;
const WAIT_LIMITS: WaitLimits = { stallMs: 30_000, maxMs: 10 * 60_000 };
/** After the last phase, how long late duplicates still get to arrive before counting. */
const SETTLE_MS = 1_000;
const IDLE_BASELINE_MS = 3_000;

const cleanup = new Cleanup();

/** What every phase needs. */
interface Run {
  options: BenchOptions;
  infra: Infrastructure;
  runId: string;
  receiver: LeanReceiver;
  env: Record<string, string>;
  meter: CpuMeter;
  workerRss: PeakRssSampler;
  publisher: KeepAlivePoster;
  cpu: CpuRow[];
  timings: Row[];
}

interface ThroughputResult {
  ingest: IngestResult;
  log: ArrivalLog;
}

interface RawResult {
  log: ArrivalLog;
  produceMs: number;
}

interface LatencyResult {
  paced: PacedResult;
  log: ArrivalLog;
  latencies: number[];
}

async function main(): Promise<void> {
  onShutdownSignal((signal) => {
    console.error(`\n[bench] ${signal}: stopping everything this run started ...`);
    void finish(signalExitCode(signal));
  });
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  const run = await setUp(options);
  const throughput = await timed(run, 'throughput', () => throughputPhase(run));
  const raw = await timed(run, 'raw limit', () => rawPhase(run));
  const latency = await timed(run, 'latency', () => latencyPhase(run));
  await sleep(SETTLE_MS);
  run.workerRss.stop();
  run.timings.push(['total', 'wall time', formatSeconds(performance.now() - started)]);
  await finish(await report(run, throughput, raw, latency));
}

let finishing: Promise<never> | undefined;

/**
 * Throws once shutdown has begun, so the run does not start a phase, or a process that cleanup
 * might already have passed, while everything is being stopped.
 */
function ensureRunning(): void {
  if (finishing !== undefined) throw new Error('interrupted');
}

/** Stops everything this run started, then exits; the first caller's exit code wins. */
function finish(code: number): Promise<never> {
  finishing ??= cleanup.run().then(() => process.exit(code));
  return finishing;
}

async function setUp(options: BenchOptions): Promise<Run> {
  const setupStarted = performance.now();
  const infra = await prepare(cleanup);
  const runId = randomBytes(4).toString('hex');
  if (infra.externalKafka) deleteTopicsAtEnd(infra.brokers, runId);

  const receiver = new LeanReceiver();
  await receiver.start();
  cleanup.add(() => receiver.stop());

  const adminKey = randomBytes(24).toString('base64url');
  const env = serviceEnvironment(infra, options, runId, adminKey);
  const workerRss = new PeakRssSampler(() => findAppPids('worker'), options.processes);
  cleanup.add(async () => workerRss.stop());
  const api = await startApp('api', env, cleanup);
  const publisher = new KeepAlivePoster(api.url, options.publishConcurrency, {
    authorization: `Bearer ${adminKey}`,
  });
  cleanup.add(async () => publisher.close());

  const client = new ApiClient(api.url, adminKey);
  for (const phase of ['throughput', 'latency']) {
    const accounts = accountIds(runId, phase, options.accounts);
    await createWebhooks(client, accounts, (account) => receiver.url(phase, account));
  }
  const run: Run = {
    options,
    infra,
    runId,
    receiver,
    env,
    meter: new CpuMeter(processGroups(infra)),
    workerRss,
    publisher,
    cpu: [],
    timings: [],
  };
  run.timings.push([
    'setup',
    'infra, api, webhooks',
    formatSeconds(performance.now() - setupStarted),
  ]);
  return run;
}

function serviceEnvironment(
  infra: Infrastructure,
  options: BenchOptions,
  runId: string,
  adminKey: string,
): Record<string, string> {
  return {
    KAFKA_BROKERS: infra.brokers,
    DATABASE_URL: infra.databaseUrl,
    ADMIN_API_KEY: adminKey,
    // The bench's rows live in a scratch database: the test key is good enough, and the
    // deliveries pay for decryption as in production.
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    KAFKA_TOPIC: `bench-events-${runId}`,
    KAFKA_CONSUMER_GROUP: `bench-workers-${runId}`,
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    WORKER_CONCURRENCY: String(options.workers),
    // The receiver is on 127.0.0.1, which the address guard refuses otherwise.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    LOG_LEVEL: 'warn',
  };
}

/** On a broker that outlives the run, the run's topics would pile up. */
function deleteTopicsAtEnd(brokers: string, runId: string): void {
  cleanup.add(async () => {
    const admin = new Kafka({
      clientId: 'bench-cleanup',
      brokers: brokers.split(','),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    try {
      const ours = (await admin.listTopics()).filter((topic) => topic.endsWith(runId));
      if (ours.length > 0) await admin.deleteTopics({ topics: ours });
    } finally {
      await admin.disconnect();
    }
  });
}

/** The processes whose CPU is shown per phase. */
function processGroups(infra: Infrastructure): ProcessGroup[] {
  const child = (script: string) => (p: { ppid: number; cmdline: string }) =>
    p.ppid === process.pid && p.cmdline.includes(script);
  const groups: ProcessGroup[] = [
    { name: 'bench', matches: (p) => p.pid === process.pid },
    { name: 'api', matches: child('dist/apps/api/main.js') },
    { name: 'worker', matches: child('dist/apps/worker/main.js') },
    { name: 'raw', matches: child('raw-consumer.ts') },
    { name: 'postgres', matches: postgresOf(infra.databaseUrl) },
  ];
  const kafkaDir = infra.kafkaDataDir;
  if (kafkaDir !== undefined) {
    groups.push({
      name: 'kafka',
      matches: (p) => p.cmdline.includes('kafka.Kafka') && p.cmdline.includes(kafkaDir),
    });
  }
  return groups;
}

/**
 * The local PostgreSQL processes working for this run: the backends connected to its database and
 * the server's own background processes (WAL writer, checkpointer...), but not the backends of
 * other databases, which on a shared server belong to someone else.
 */
function postgresOf(databaseUrl: string): ProcessGroup['matches'] {
  const database = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  // A backend's title is "postgres: [cluster: ]user database client(port) state".
  const backend = /\d\(\d+\)|\[local\]/;
  return (p) =>
    p.comm === 'postgres' && (!backend.test(p.cmdline) || p.cmdline.includes(` ${database} `));
}

async function timed<T>(run: Run, phase: string, work: () => Promise<T>): Promise<T> {
  ensureRunning();
  const started = performance.now();
  console.error(`[bench] ${phase} phase ...`);
  const result = await work();
  run.timings.push([phase, 'phase duration', formatSeconds(performance.now() - started)]);
  return result;
}

async function throughputPhase(run: Run): Promise<ThroughputResult> {
  const { options, receiver } = run;
  const events = makeEvents(options.events, accountIds(run.runId, 'throughput', options.accounts));
  const log = receiver.log('throughput');
  if (options.mode === 'live') {
    run.workerRss.start();
    await startWorkers(run);
    const snapshot = run.meter.snapshot();
    const ingest = await publishAll(run.publisher, events, options.publishConcurrency);
    await waitForArrivals(log, ingest.accepted.length, 'throughput', workerWait(run));
    run.cpu.push({ phase: 'ingest + delivery', shares: run.meter.since(snapshot) });
    return { ingest, log };
  }
  const snapshot = run.meter.snapshot();
  const ingest = await publishAll(run.publisher, events, options.publishConcurrency);
  run.cpu.push({ phase: 'ingest', shares: run.meter.since(snapshot) });
  ensureRunning();
  run.workerRss.start();
  let workerFailure: string | undefined;
  const worker = startWorkers(run).catch((error: unknown) => {
    workerFailure = errorMessage(error);
  });
  const drainLimits = workerWait(run, () => workerFailure);
  run.cpu.push({
    phase: 'delivery (drain)',
    shares: await measureDrain(run, log, ingest.accepted.length, 'throughput', drainLimits),
  });
  await worker;
  if (workerFailure !== undefined) throw new Error(workerFailure);
  return { ingest, log };
}

/** The worker processes, started together so that they join the group at about the same time. */
async function startWorkers(run: Run): Promise<void> {
  const starts = Array.from({ length: run.options.processes }, () =>
    startApp('worker', run.env, cleanup),
  );
  await Promise.all(starts);
}

/** Waiting on the worker is pointless once its process is gone. */
function workerWait(
  run: Run,
  startFailure: () => string | undefined = () => undefined,
): WaitLimits {
  return {
    ...WAIT_LIMITS,
    problem: () => {
      const failure = startFailure();
      if (failure !== undefined) return failure;
      const gone = run.workerRss.processIds.some((pid) => !isAlive(pid));
      return gone ? 'a worker exited' : undefined;
    },
  };
}

/**
 * Waits for the whole drain and returns the CPU used from its first arrival on, so the start-up
 * of the consuming process (Nest boot, tsx compile) does not count as delivery work.
 */
async function measureDrain(
  run: Run,
  log: ArrivalLog,
  expected: number,
  label: string,
  limits: WaitLimits,
): Promise<CpuShare[]> {
  await waitForArrivals(log, Math.min(1, expected), label, limits);
  const snapshot = run.meter.snapshot();
  await waitForArrivals(log, expected, label, limits);
  return run.meter.since(snapshot);
}

async function rawPhase(run: Run): Promise<RawResult> {
  const { options, infra, runId } = run;
  const events = makeEvents(options.events, accountIds(runId, 'raw', options.accounts));
  const topic = `bench-raw-${runId}`;
  const produceMs = await produceRaw(infra.brokers, topic, PARTITIONS, events);
  ensureRunning();
  const consumer = startRawConsumer(
    {
      brokers: infra.brokers,
      topic,
      groupId: `bench-raw-group-${runId}`,
      concurrency: options.workers,
      targetUrl: run.receiver.url('raw'),
    },
    cleanup,
  );
  const log = run.receiver.log('raw');
  const limits: WaitLimits = {
    ...WAIT_LIMITS,
    problem: () =>
      consumer.exitCode === null ? undefined : `the raw consumer exited (${consumer.exitCode})`,
  };
  run.cpu.push({
    phase: 'raw (drain)',
    shares: await measureDrain(run, log, events.length, 'raw pipeline', limits),
  });
  await stopRawConsumer(consumer);
  return { log, produceMs };
}

async function latencyPhase(run: Run): Promise<LatencyResult> {
  const { options, runId } = run;
  // The cost of the running service with nothing to do (polling, heartbeats, commits): the
  // baseline under the latency phase's CPU figures.
  const idle = run.meter.snapshot();
  await sleep(IDLE_BASELINE_MS);
  run.cpu.push({ phase: 'idle baseline', shares: run.meter.since(idle) });
  const count = options.rate * options.latencySeconds;
  const events = makeEvents(count, accountIds(runId, 'latency', options.accounts));
  const log = run.receiver.log('latency');
  const snapshot = run.meter.snapshot();
  const paced = await publishAtRate(run.publisher, events, options.rate);
  await waitForArrivals(log, paced.startedAt.size, 'latency', workerWait(run));
  run.cpu.push({ phase: `latency (${options.rate}/s)`, shares: run.meter.since(snapshot) });
  const latencies: number[] = [];
  for (const [id, start] of paced.startedAt) {
    const arrival = log.firstArrival.get(id);
    if (arrival !== undefined) latencies.push(arrival - start);
  }
  latencies.sort((a, b) => a - b);
  return { paced, log, latencies };
}

/** Prints the tables, writes the results file and returns the exit code. */
async function report(
  run: Run,
  throughput: ThroughputResult,
  raw: RawResult,
  latency: LatencyResult,
): Promise<number> {
  const { options } = run;
  const ingestPerS = perSecond(throughput.ingest.accepted.length, throughput.ingest.elapsedMs);
  // Distinct arrivals over the window: N whenever nothing went missing.
  const deliveredPerS = perSecond(throughput.log.size, throughput.log.spanMs);
  const rawPerS = perSecond(raw.log.size, raw.log.spanMs);
  const missing =
    throughput.log.missing(throughput.ingest.accepted) +
    latency.log.missing(latency.paced.startedAt.keys());
  const rawMissing = options.events - raw.log.size;
  const result: BenchResult = {
    machine: machineDescription(),
    events: options.events,
    workers: options.workers,
    ingest_per_s: round(ingestPerS, 1),
    delivered_per_s: round(deliveredPerS, 1),
    raw_limit_per_s: round(rawPerS, 1),
    ratio_to_limit: round(rawPerS > 0 ? deliveredPerS / rawPerS : 0, 3),
    p50_ms: round(percentile(latency.latencies, 50), 1),
    p99_ms: round(percentile(latency.latencies, 99), 1),
    latency_rate_per_s: options.rate,
    worker_rss_mb_max: round(run.workerRss.maxMb, 1),
    duplicates: throughput.log.duplicates + latency.log.duplicates,
    missing,
  };
  printTable(
    `Benchmark: ${result.machine}\n` +
      `${options.events} events over ${options.accounts} accounts, ` +
      `${options.processes} worker process${options.processes === 1 ? '' : 'es'}, WORKER_CONCURRENCY=${options.workers}, ${options.mode} mode`,
    resultRows(run, result, throughput, raw, latency, rawMissing),
  );
  printCpuTable(run.cpu);
  warnAboutNoise(run.cpu);
  printTable('Timings', run.timings);
  await writeResult(result);
  console.log(`\nWrote ${RESULTS_FILE}`);
  return verdict(result, throughput, latency, rawMissing);
}

function resultRows(
  run: Run,
  result: BenchResult,
  throughput: ThroughputResult,
  raw: RawResult,
  latency: LatencyResult,
  rawMissing: number,
): Row[] {
  const { options } = run;
  const f = (value: number) => String(value);
  const delivery =
    options.mode === 'drain'
      ? 'backlog drain (worker started after ingest), first arrival → last arrival'
      : 'worker running during ingest, first arrival → last arrival';
  const failures = throughput.ingest.failures.count + latency.paced.failures.count;
  return [
    ['phase', 'figure', 'value', 'how'],
    [
      'ingest',
      'ingest_per_s',
      f(result.ingest_per_s),
      `202s per second, POST /v1/events, ${options.publishConcurrency} in flight, keep-alive`,
    ],
    ['delivery', 'delivered_per_s', f(result.delivered_per_s), delivery],
    [
      'raw limit',
      'raw_limit_per_s',
      f(result.raw_limit_per_s),
      `bare kafkajs consumer → keep-alive POST, ${options.workers} in flight, first → last arrival`,
    ],
    [
      '',
      'raw produce',
      f(round(perSecond(options.events, raw.produceMs), 1)),
      'bare kafkajs producer, acks=all, 500 per send',
    ],
    ['', 'ratio_to_limit', f(result.ratio_to_limit), 'delivered_per_s / raw_limit_per_s'],
    [
      'latency',
      'p50_ms',
      f(result.p50_ms),
      `publish call start → arrival, ${options.rate}/s for ${options.latencySeconds} s ` +
        `(achieved ${latency.paced.achievedRate.toFixed(1)}/s)`,
    ],
    ['', 'p99_ms', f(result.p99_ms), `max ${round(latency.latencies.at(-1) ?? 0, 1)} ms`],
    [
      'worker',
      'worker_rss_mb_max',
      f(result.worker_rss_mb_max),
      `VmRSS, ${run.workerRss.samples} samples every 250 ms`,
    ],
    ['checks', 'duplicates', f(result.duplicates), 'service phases, same webhook-id twice'],
    ['', 'missing', f(result.missing), 'service phases, accepted and never arrived'],
    [
      '',
      'publish failures',
      f(failures),
      throughput.ingest.failures.first ?? latency.paced.failures.first ?? '',
    ],
    ['', 'raw dup / missing', `${raw.log.duplicates} / ${rawMissing}`, 'raw pipeline'],
  ];
}

/** Beyond this, other processes took enough of the machine to move the figures. */
const NOISY_OTHER_PERCENT = 20;

function warnAboutNoise(rows: CpuRow[]): void {
  const busiest = Math.max(
    ...rows.flatMap((row) => row.shares.filter((s) => s.name === 'other').map((s) => s.percent)),
  );
  if (busiest > NOISY_OTHER_PERCENT) {
    console.log(
      `\nNote: processes outside this run used up to ${busiest.toFixed(0)} % of a core during ` +
        'a phase: the machine was not quiet, so the figures are lower and noisier than they could be.',
    );
  }
}

/** 0 only when every published event arrived and every publish was accepted. */
function verdict(
  result: BenchResult,
  throughput: ThroughputResult,
  latency: LatencyResult,
  rawMissing: number,
): number {
  const problems: string[] = [];
  if (result.missing > 0) problems.push(`${result.missing} accepted events never arrived`);
  const failures = throughput.ingest.failures.count + latency.paced.failures.count;
  if (failures > 0) problems.push(`${failures} publishes were not accepted`);
  if (rawMissing > 0) problems.push(`the raw pipeline lost ${rawMissing} events`);
  for (const problem of problems) console.error(`[bench] FAILED: ${problem}`);
  return problems.length === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(`[bench] ${errorMessage(error)}`);
  void finish(1);
});
