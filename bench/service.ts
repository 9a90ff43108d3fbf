/** Driving the service under test: its processes, its webhooks and publishing through its api. */
import { performance } from 'node:perf_hooks';
import { AppProcess, ApiClient, type AppName } from '@libs/testing';
import { type Cleanup, errorMessage, terminate } from '../scripts/infra/process';
import { Limiter, forEachBounded, sleep } from './concurrency';
import type { BenchEvent } from './events';
import type { KeepAlivePoster } from './http-client';
import { findAppPids } from './process-stats';

const APP_STOP_GRACE_MS = 15_000;
const WEBHOOK_SETUP_CONCURRENCY = 8;
/** Bounds the latency driver's queue if the api falls behind the requested rate. */
const LATENCY_MAX_IN_FLIGHT = 64;

/**
 * Starts a built app and registers its stop. The stop is registered first and falls back to the
 * pid, so a Ctrl-C while the app is still starting up does not leave it running.
 */
export async function startApp(
  name: AppName,
  env: Record<string, string>,
  cleanup: Cleanup,
): Promise<AppProcess> {
  const started: { app?: AppProcess } = {};
  cleanup.add(async () => {
    if (started.app) {
      await started.app.stop('SIGTERM', APP_STOP_GRACE_MS);
      return;
    }
    // Started but not yet ready: every such process of the app is this run's to stop.
    for (const pid of findAppPids(name)) await terminate(pid, APP_STOP_GRACE_MS);
  });
  started.app = await AppProcess.start(name, env);
  return started.app;
}

/** One webhook per account, subscribed to every event type. */
export async function createWebhooks(
  api: ApiClient,
  accounts: string[],
  url: (account: string) => string,
): Promise<void> {
  await forEachBounded(accounts.length, WEBHOOK_SETUP_CONCURRENCY, async (i) => {
    const account = accounts[i];
    const answer = await api.post('/v1/webhooks', {
      account_id: account,
      url: url(account),
      event_types: ['*'],
      description: 'benchmark receiver',
    });
    if (answer.status !== 201) {
      throw new Error(
        `creating the webhook of ${account} answered ${answer.status}: ${JSON.stringify(answer.body)}`,
      );
    }
  });
}

export interface PublishFailures {
  count: number;
  first?: string;
}

export interface IngestResult {
  /** Ids the api accepted with 202: the ones that must arrive. */
  accepted: string[];
  failures: PublishFailures;
  elapsedMs: number;
}

/** Publishes every event through POST /v1/events with `concurrency` requests in flight. */
export async function publishAll(
  poster: KeepAlivePoster,
  events: BenchEvent[],
  concurrency: number,
): Promise<IngestResult> {
  const accepted: string[] = [];
  const failures: PublishFailures = { count: 0 };
  const started = performance.now();
  await forEachBounded(events.length, concurrency, async (i) => {
    const event = events[i];
    const problem = await publishOne(poster, event);
    if (problem === undefined) accepted.push(event.id);
    else recordFailure(failures, problem);
  });
  return { accepted, failures, elapsedMs: performance.now() - started };
}

export interface PacedResult {
  /** When the publish call of each accepted event started (performance.now()). */
  startedAt: Map<string, number>;
  /** How long each accepted event's publish call took, start to 202 (ms). */
  acknowledgedInMs: Map<string, number>;
  failures: PublishFailures;
  /** Events per second actually started: below the target when the api could not keep up. */
  achievedRate: number;
}

/**
 * Publishes one event every 1/rate seconds on a fixed schedule (open loop: a slow answer does not
 * delay the next publish, so slowness shows up in the latencies instead of hiding in the rate).
 */
export async function publishAtRate(
  poster: KeepAlivePoster,
  events: BenchEvent[],
  rate: number,
): Promise<PacedResult> {
  const startedAt = new Map<string, number>();
  const acknowledgedInMs = new Map<string, number>();
  const failures: PublishFailures = { count: 0 };
  const limiter = new Limiter(LATENCY_MAX_IN_FLIGHT);
  const pending: Promise<void>[] = [];
  const begin = performance.now();
  let lastStart = begin;
  for (let i = 0; i < events.length; i += 1) {
    const wait = begin + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const event = events[i];
    const publish = async (): Promise<void> => {
      const start = performance.now();
      lastStart = start;
      // Recorded before the call: the worker may deliver before the api's 202 is read.
      startedAt.set(event.id, start);
      const problem = await publishOne(poster, event);
      if (problem === undefined) {
        acknowledgedInMs.set(event.id, performance.now() - start);
        return;
      }
      startedAt.delete(event.id);
      recordFailure(failures, problem);
    };
    pending.push(limiter.run(publish));
  }
  await Promise.all(pending);
  const spanS = (lastStart - begin) / 1000;
  const achievedRate = spanS > 0 ? (events.length - 1) / spanS : rate;
  return { startedAt, acknowledgedInMs, failures, achievedRate };
}

/** Undefined once the api answered 202; otherwise what went wrong. */
async function publishOne(poster: KeepAlivePoster, event: BenchEvent): Promise<string | undefined> {
  try {
    const status = await poster.post('/v1/events', JSON.stringify(event));
    return status === 202 ? undefined : `HTTP ${status}`;
  } catch (error) {
    return errorMessage(error);
  }
}

function recordFailure(failures: PublishFailures, problem: string): void {
  failures.count += 1;
  failures.first ??= problem;
}
