import { parseArgs } from 'node:util';

export type DeliveryMode = 'kafka' | 'direct';

export interface BenchOptions {
  /** DELIVERY_MODE of the service; two for a side-by-side run (same machine, same run). */
  deliveryModes: DeliveryMode[];
  events: number;
  accounts: number;
  workers: number;
  /** Worker processes sharing the consumer group. */
  processes: number;
  /** Events per second in the latency phase. */
  rate: number;
  latencySeconds: number;
  /** POST /v1/events requests in flight during the throughput phase. */
  publishConcurrency: number;
  /**
   * drain: the worker starts once all events are accepted (in Kafka, or in Postgres in direct
   * mode), so delivery is measured alone, like the raw pipeline. live: the worker runs during
   * ingest, and both compete for the CPU.
   */
  schedule: 'drain' | 'live';
  quick: boolean;
  /** Kafka mode's workers send first attempts before storing their events. */
  sendFirst: boolean;
  /** Print each drain's arrivals per quarter second (its ramp-up and tail). */
  timeline: boolean;
}

const USAGE = `npm run bench -- [options]

  --events N              events in the throughput and raw phases (default 5000; --quick 1000)
  --accounts M            accounts the events are spread over, one webhook each (default 100)
  --workers N             WORKER_CONCURRENCY of the worker (default: $WORKER_CONCURRENCY or 10)
  --processes P           worker processes in the consumer group (default 1)
  --rate R                events per second in the latency phase (default 200)
  --latency-seconds S     length of the latency phase (default 20; --quick 10)
  --publish-concurrency C POST /v1/events in flight in the throughput phase (default 32)
  --mode M                kafka (default), direct (DELIVERY_MODE=direct: no Kafka in the
                          service) or both: the two side by side in one run, Kafka first
  --send-first            Kafka mode with DELIVERY_SEND_FIRST=true (first attempts before rows)
  --live                  run the worker during ingest instead of draining the backlog after it
  --quick                 a smoke run: 1000 events, 10 s of latency
  --timeline              print each drain's arrivals per 250 ms (ramp-up, steady rate, tail)
  --help                  this text

Kafka (for Kafka mode and the raw pipeline, which is a bare Kafka consumer in every mode):
KAFKA_BROKERS if set, else a fresh broker. PostgreSQL: DATABASE_URL if set, else a scratch
database on 127.0.0.1:5432 (else an embedded server). Results: bench/results/latest.json.`;

/** The options from the command line; prints the usage and exits on --help or a bad value. */
export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string' },
      accounts: { type: 'string' },
      workers: { type: 'string' },
      processes: { type: 'string' },
      rate: { type: 'string' },
      'latency-seconds': { type: 'string' },
      'publish-concurrency': { type: 'string' },
      mode: { type: 'string' },
      live: { type: 'boolean', default: false },
      'send-first': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      timeline: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  return {
    deliveryModes: deliveryModes(values.mode ?? 'kafka'),
    events: positiveInteger('--events', values.events ?? (quick ? '1000' : '5000')),
    accounts: positiveInteger('--accounts', values.accounts ?? '100'),
    workers: positiveInteger(
      '--workers',
      values.workers ?? (process.env.WORKER_CONCURRENCY || '10'),
    ),
    processes: positiveInteger('--processes', values.processes ?? '1'),
    rate: positiveInteger('--rate', values.rate ?? '200'),
    latencySeconds: positiveInteger(
      '--latency-seconds',
      values['latency-seconds'] ?? (quick ? '10' : '20'),
    ),
    publishConcurrency: positiveInteger(
      '--publish-concurrency',
      values['publish-concurrency'] ?? '32',
    ),
    schedule: values.live ? 'live' : 'drain',
    quick,
    sendFirst: values['send-first'] ?? false,
    timeline: values.timeline ?? false,
  };
}

function deliveryModes(text: string): DeliveryMode[] {
  if (text === 'kafka' || text === 'direct') return [text];
  if (text === 'both') return ['kafka', 'direct'];
  console.error(`--mode must be kafka, direct or both, got "${text}"\n\n${USAGE}`);
  process.exit(2);
}

/** Caps keep every phase bounded in time even with a mistyped value. */
const MAXIMUM = 1_000_000;

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > MAXIMUM) {
    console.error(`${flag} must be an integer from 1 to ${MAXIMUM}, got "${text}"\n\n${USAGE}`);
    process.exit(2);
  }
  return value;
}
