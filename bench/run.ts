/**
 * `npm run bench`: throughput, raw limit, latency and memory of the service, on this machine,
 * loopback only. Prints a table and writes bench/results/latest.json (the contract's keys).
 * `--mode direct` measures direct mode (DELIVERY_MODE=direct) instead of Kafka mode;
 * `--mode both` measures the two side by side in one run (their own api, worker and accounts
 * each, one after the other), and the results file gets the direct figures under `direct`.
 *
 * 0. The broker gets a few seconds of warm-up traffic first (bench/broker-warm-up.ts): a fresh
 *    JVM would otherwise charge its JIT compilation to the first phase.
 * 1. Throughput: N events over M accounts (one webhook each, on a local receiver) published
 *    through POST /v1/events; ingest_per_s counts the 202s. By default the worker starts once
 *    the events are all accepted and drains the backlog (--live runs it during ingest instead);
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
import { ApiClient, TEST_ENCRYPTION_KEYS, type AppProcess } from '@libs/testing';
import {
  Cleanup,
  errorMessage,
  formatSeconds,
  isAlive,
  onShutdownSignal,
  signalExitCode,
} from '../scripts/infra/process';
import { warmUpBroker } from './broker-warm-up';
import { sleep } from './concurrency';
import { accountIds, makeEvents } from './events';
import { KeepAlivePoster } from './http-client';
import { prepare, type Infrastructure } from './infra';
import { type BenchOptions, type DeliveryMode, parseOptions } from './options';
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
  adminKey: string;
  meter: CpuMeter;
  cpu: CpuRow[];
  timings: Row[];
}

/** The service in one delivery mode: its own api, worker, accounts and receiver paths. */
interface Service {
  mode: DeliveryMode;
  env: Record<string, string>;
  api: AppProcess;
  /** The worker processes (--processes), once started. */
  workers: AppProcess[];
  workerRss: PeakRssSampler;
  publisher: KeepAlivePoster;
  /** Phase names: receiver paths and account ids, apart per mode. */
  phase: (name: 'throughput' | 'latency') => string;
  /** Prefix of the CPU and timing rows, when the run measures more than one mode. */
  label: (name: string) => string;
}

interface ModeResult {
  service: Service;
  throughput: ThroughputResult;
  latency: LatencyResult;
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
  const modes: ModeResult[] = [];
  for (const mode of options.deliveryModes) {
    const service = await timed(run, `${mode} mode: api, webhooks`, () => startService(run, mode));
    const throughput = await timed(run, service.label('throughput'), () =>
      throughputPhase(run, service),
    );
    const latency = await timed(run, service.label('latency'), () => latencyPhase(run, service));
    await sleep(SETTLE_MS);
    // One service at a time: the next mode gets the machine to itself.
    await stopService(service);
    modes.push({ service, throughput, latency });
  }
  const raw = await timed(run, 'raw limit', () => rawPhase(run));
  run.timings.push(['total', 'wall time', formatSeconds(performance.now() - started)]);
  await finish(await report(run, modes, raw));
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
  const warmUpStarted = performance.now();
  console.error('[bench] warming the broker up ...');
  // Best effort: a failed warm-up leaves a colder broker, not a failed run.
  await warmUpBroker(infra.brokers, `bench-warm-up-${runId}`, `bench-warm-up-${runId}`).then(
    (rounds) =>
      console.error(`[bench] broker warm-up: produce requests per round ${rounds.join(', ')}`),
    (error: unknown) =>
      console.error(`[bench] broker warm-up failed, going on: ${errorMessage(error)}`),
  );
  const warmUp = formatSeconds(performance.now() - warmUpStarted);

  const receiver = new LeanReceiver();
  await receiver.start();
  cleanup.add(() => receiver.stop());

  const run: Run = {
    options,
    infra,
    runId,
    receiver,
    adminKey: randomBytes(24).toString('base64url'),
    meter: new CpuMeter(processGroups(infra)),
    cpu: [],
    timings: [],
  };
  run.timings.push(['setup', 'infrastructure', formatSeconds(performance.now() - setupStarted)]);
  run.timings.push(['setup', 'broker warm-up (included)', warmUp]);
  return run;
}

/** Starts the api of the mode and creates the webhooks of its accounts; the worker comes later. */
async function startService(run: Run, mode: DeliveryMode): Promise<Service> {
  const { options, runId, receiver } = run;
  const several = options.deliveryModes.length > 1;
  const env = serviceEnvironment(run, mode);
  const workerRss = new PeakRssSampler(() => findAppPids('worker'), options.processes);
  cleanup.add(async () => workerRss.stop());
  const api = await startApp('api', env, cleanup);
  const publisher = new KeepAlivePoster(api.url, options.publishConcurrency, {
    authorization: `Bearer ${run.adminKey}`,
  });
  cleanup.add(async () => publisher.close());
  const service: Service = {
    mode,
    env,
    api,
    workers: [],
    workerRss,
    publisher,
    phase: (name) => (several ? `${mode}-${name}` : name),
    label: (name) => (several ? `${mode}: ${name}` : name),
  };
  const client = new ApiClient(api.url, run.adminKey);
  for (const name of ['throughput', 'latency'] as const) {
    const phase = service.phase(name);
    const accounts = accountIds(runId, phase, options.accounts);
    await createWebhooks(client, accounts, (account) => receiver.url(phase, account));
  }
  return service;
}

async function stopService(service: Service): Promise<void> {
  service.workerRss.stop();
  service.publisher.close();
  await Promise.all([
    ...service.workers.map((worker) => worker.stop('SIGTERM')),
    service.api.stop('SIGTERM'),
  ]);
}

function serviceEnvironment(run: Run, mode: DeliveryMode): Record<string, string> {
  const { infra, options, runId } = run;
  const common = {
    DATABASE_URL: infra.databaseUrl,
    ADMIN_API_KEY: run.adminKey,
    // The bench's rows live in a scratch database: the test key is good enough, and the
    // deliveries pay for decryption as in production.
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    WORKER_CONCURRENCY: String(options.workers),
    // The receiver is on 127.0.0.1, which the address guard refuses otherwise.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    LOG_LEVEL: 'warn',
  };
  // Direct mode: no Kafka setting at all, as on a machine without a broker.
  if (mode === 'direct') return { ...common, DELIVERY_MODE: 'direct' };
  return {
    ...common,
    DELIVERY_MODE: 'kafka',
    KAFKA_BROKERS: infra.brokers,
    KAFKA_TOPIC: `bench-events-${runId}`,
    KAFKA_CONSUMER_GROUP: `bench-workers-${runId}`,
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    DELIVERY_SEND_FIRST: String(options.sendFirst),
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

async function throughputPhase(run: Run, service: Service): Promise<ThroughputResult> {
  const { options, receiver } = run;
  const phase = service.phase('throughput');
  const events = makeEvents(options.events, accountIds(run.runId, phase, options.accounts));
  const log = receiver.log(phase);
  if (options.schedule === 'live') {
    service.workerRss.start();
    await startWorkers(service, options.processes);
    const snapshot = run.meter.snapshot();
    const ingest = await publishAll(service.publisher, events, options.publishConcurrency);
    await waitForArrivals(log, ingest.accepted.length, phase, workerWait(service));
    run.cpu.push({
      phase: service.label('ingest + delivery'),
      shares: run.meter.since(snapshot),
      events: ingest.accepted.length,
    });
    return { ingest, log };
  }
  const snapshot = run.meter.snapshot();
  const ingest = await publishAll(service.publisher, events, options.publishConcurrency);
  run.cpu.push({
    phase: service.label('ingest'),
    shares: run.meter.since(snapshot),
    events: ingest.accepted.length,
  });
  ensureRunning();
  service.workerRss.start();
  let workerFailure: string | undefined;
  const worker = startWorkers(service, options.processes).catch((error: unknown) => {
    workerFailure = errorMessage(error);
  });
  const drainLimits = workerWait(service, () => workerFailure);
  run.cpu.push({
    phase: service.label('delivery (drain)'),
    shares: await measureDrain(run, log, ingest.accepted.length, phase, drainLimits),
    events: log.size,
  });
  await worker;
  if (workerFailure !== undefined) throw new Error(workerFailure);
  return { ingest, log };
}

/** The worker processes, started together so that they join the group at about the same time. */
async function startWorkers(service: Service, count: number): Promise<void> {
  const starts = Array.from({ length: count }, () => startApp('worker', service.env, cleanup));
  service.workers = await Promise.all(starts);
}

/** Waiting on the worker is pointless once its process is gone. */
function workerWait(
  service: Service,
  startFailure: () => string | undefined = () => undefined,
): WaitLimits {
  return {
    ...WAIT_LIMITS,
    problem: () => {
      const failure = startFailure();
      if (failure !== undefined) return failure;
      const gone = service.workerRss.processIds.some((pid) => !isAlive(pid));
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
  const shares = run.meter.since(snapshot);
  if (run.options.timeline) console.log(`[bench] ${label}, arrivals per 250 ms: ${timeline(log)}`);
  return shares;
}

/** First arrivals per quarter second from the first one on: where a drain ramps up or tails off. */
function timeline(log: ArrivalLog): string {
  const counts: number[] = [];
  for (const at of log.firstArrival.values()) {
    const quarter = Math.floor((at - log.firstAt) / 250);
    counts[quarter] = (counts[quarter] ?? 0) + 1;
  }
  return Array.from(counts, (count) => count ?? 0).join(' ');
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
    events: log.size,
  });
  await stopRawConsumer(consumer);
  return { log, produceMs };
}

async function latencyPhase(run: Run, service: Service): Promise<LatencyResult> {
  const { options, runId } = run;
  // The cost of the running service with nothing to do (polling, heartbeats, commits): the
  // baseline under the latency phase's CPU figures.
  const idle = run.meter.snapshot();
  await sleep(IDLE_BASELINE_MS);
  run.cpu.push({ phase: service.label('idle baseline'), shares: run.meter.since(idle) });
  const phase = service.phase('latency');
  const count = options.rate * options.latencySeconds;
  const events = makeEvents(count, accountIds(runId, phase, options.accounts));
  const log = run.receiver.log(phase);
  const snapshot = run.meter.snapshot();
  const paced = await publishAtRate(service.publisher, events, options.rate);
  await waitForArrivals(log, paced.startedAt.size, phase, workerWait(service));
  run.cpu.push({
    phase: service.label(`latency (${options.rate}/s)`),
    shares: run.meter.since(snapshot),
  });
  const latencies: number[] = [];
  for (const [id, start] of paced.startedAt) {
    const arrival = log.firstArrival.get(id);
    if (arrival !== undefined) latencies.push(arrival - start);
  }
  latencies.sort((a, b) => a - b);
  return { paced, log, latencies };
}

/** Prints the tables, writes the results file and returns the exit code. */
async function report(run: Run, modes: ModeResult[], raw: RawResult): Promise<number> {
  const { options } = run;
  const rawPerS = perSecond(raw.log.size, raw.log.spanMs);
  const rawMissing = options.events - raw.log.size;
  const results = modes.map((mode) => resultOf(run, mode, rawPerS));
  for (const [index, mode] of modes.entries()) {
    printTable(
      `Benchmark: ${results[index].machine}\n` +
        `${options.events} events over ${options.accounts} accounts, ` +
        `${options.processes} worker process${options.processes === 1 ? '' : 'es'}, ` +
        `WORKER_CONCURRENCY=${options.workers}, ${options.schedule}, ` +
        `DELIVERY_MODE=${mode.service.mode}` +
        (mode.service.mode === 'kafka' && options.sendFirst ? ', DELIVERY_SEND_FIRST=true' : ''),
      resultRows(run, results[index], mode, raw, rawMissing),
    );
  }
  if (results.length > 1) printTable('Side by side (same run)', sideBySide(results));
  printCpuTable(run.cpu);
  warnAboutNoise(run.cpu);
  printTable('Timings', run.timings);
  const [first, ...others] = results;
  await writeResult({
    ...first,
    ...Object.fromEntries(others.map((other) => [other.delivery_mode, withoutMachine(other)])),
  });
  console.log(`\nWrote ${RESULTS_FILE}`);
  return verdict(modes, results, rawMissing);
}

function resultOf(run: Run, { service, throughput, latency }: ModeResult, rawPerS: number) {
  const { options } = run;
  const ingestPerS = perSecond(throughput.ingest.accepted.length, throughput.ingest.elapsedMs);
  // Distinct arrivals over the window: N whenever nothing went missing.
  const deliveredPerS = perSecond(throughput.log.size, throughput.log.spanMs);
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
    worker_rss_mb_max: round(service.workerRss.maxMb, 1),
    duplicates: throughput.log.duplicates + latency.log.duplicates,
    missing:
      throughput.log.missing(throughput.ingest.accepted) +
      latency.log.missing(latency.paced.startedAt.keys()),
    delivery_mode: service.mode,
  };
  return result;
}

function withoutMachine(result: BenchResult): Omit<BenchResult, 'machine'> {
  const { machine: _machine, ...rest } = result;
  return rest;
}

const COMPARED = [
  'ingest_per_s',
  'delivered_per_s',
  'ratio_to_limit',
  'p50_ms',
  'p99_ms',
  'worker_rss_mb_max',
  'duplicates',
  'missing',
] as const;

/** The two modes of a `--mode both` run, figure by figure. */
function sideBySide([first, second]: BenchResult[]): Row[] {
  return [
    ['figure', first.delivery_mode, second.delivery_mode],
    ...COMPARED.map((key): Row => [key, String(first[key]), String(second[key])]),
  ];
}

/** Of the latency, the api's part: publish call start → 202 (Kafka's acks=all included). */
function ackRow(acknowledgedInMs: Map<string, number>): Row {
  const sorted = [...acknowledgedInMs.values()].sort((a, b) => a - b);
  const p50 = round(percentile(sorted, 50), 1);
  const p99 = round(percentile(sorted, 99), 1);
  return [
    '',
    'of which 202',
    `${p50} / ${p99}`,
    'p50 / p99 ms, publish call start → 202 (acks=all)',
  ];
}

function resultRows(
  run: Run,
  result: BenchResult,
  { service, throughput, latency }: ModeResult,
  raw: RawResult,
  rawMissing: number,
): Row[] {
  const { options } = run;
  const f = (value: number) => String(value);
  const delivery =
    options.schedule === 'drain'
      ? 'backlog drain (worker started after ingest), first arrival → last arrival'
      : 'worker running during ingest, first arrival → last arrival';
  const accepted =
    service.mode === 'kafka' ? 'acknowledged by Kafka' : 'committed to Postgres (direct mode)';
  const failures = throughput.ingest.failures.count + latency.paced.failures.count;
  return [
    ['phase', 'figure', 'value', 'how'],
    [
      'ingest',
      'ingest_per_s',
      f(result.ingest_per_s),
      `202s per second (${accepted}), POST /v1/events, ${options.publishConcurrency} in flight`,
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
    ackRow(latency.paced.acknowledgedInMs),
    [
      'worker',
      'worker_rss_mb_max',
      f(result.worker_rss_mb_max),
      `VmRSS, ${service.workerRss.samples} samples every 250 ms`,
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
function verdict(modes: ModeResult[], results: BenchResult[], rawMissing: number): number {
  const problems: string[] = [];
  for (const [index, { service, throughput, latency }] of modes.entries()) {
    const result = results[index];
    const mode = `${service.mode} mode`;
    if (result.missing > 0)
      problems.push(`${mode}: ${result.missing} accepted events never arrived`);
    const failures = throughput.ingest.failures.count + latency.paced.failures.count;
    if (failures > 0) problems.push(`${mode}: ${failures} publishes were not accepted`);
  }
  if (rawMissing > 0) problems.push(`the raw pipeline lost ${rawMissing} events`);
  for (const problem of problems) console.error(`[bench] FAILED: ${problem}`);
  return problems.length === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(`[bench] ${errorMessage(error)}`);
  void finish(1);
});
