import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { sleep } from './concurrency';

/**
 * What one phase's receiver path saw. Times are `performance.now()` of this process, the clock
 * the publishers use too, so arrival minus publish start is a true end-to-end latency.
 */
export class ArrivalLog {
  readonly firstArrival = new Map<string, number>();
  /** Arrivals of a webhook-id that had already arrived once. */
  duplicates = 0;
  /** Requests without a webhook-id header: a bug in the sender if ever non-zero. */
  withoutId = 0;
  /** First and last *first* arrival: a late duplicate does not stretch the delivery window. */
  firstAt = Number.POSITIVE_INFINITY;
  lastAt = Number.NEGATIVE_INFINITY;

  record(id: string | undefined, at: number): void {
    if (id === undefined) {
      this.withoutId += 1;
    } else if (this.firstArrival.has(id)) {
      this.duplicates += 1;
    } else {
      this.firstArrival.set(id, at);
      this.firstAt = Math.min(this.firstAt, at);
      this.lastAt = Math.max(this.lastAt, at);
    }
  }

  get size(): number {
    return this.firstArrival.size;
  }

  /** Milliseconds from the first arrival to the last one; 0 before two arrivals. */
  get spanMs(): number {
    return this.size < 2 ? 0 : this.lastAt - this.firstAt;
  }

  missing(expected: Iterable<string>): number {
    let missing = 0;
    for (const id of expected) if (!this.firstArrival.has(id)) missing += 1;
    return missing;
  }
}

/**
 * A minimal HTTP receiver on 127.0.0.1: it answers 200 with an empty body at once and logs the
 * arrival time and webhook-id of each request. The first path segment names the phase
 * (`/throughput/...`, `/raw`), so a straggler of one phase never counts in another.
 * The testing library's WebhookReceiver keeps every body and scans all requests per request,
 * which costs too much CPU at thousands of requests per second in this very process.
 */
export class LeanReceiver {
  private readonly logs = new Map<string, ArrivalLog>();
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    // Longer than any client's idle keep-alive, so the receiver never closes a socket that a
    // sender is about to reuse (that race shows up as a reset and a needless retry).
    server.keepAliveTimeout = 120_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
  }

  /** The URL of a phase's path, e.g. url('throughput', 'account-1'). */
  url(phase: string, suffix = ''): string {
    return `http://127.0.0.1:${this.port}/${phase}${suffix ? `/${suffix}` : ''}`;
  }

  log(phase: string): ArrivalLog {
    let log = this.logs.get(phase);
    if (!log) {
      log = new ArrivalLog();
      this.logs.set(phase, log);
    }
    return log;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const at = performance.now();
    const id = req.headers['webhook-id'];
    const phase = (req.url ?? '/').split('/')[1] ?? '';
    this.log(phase).record(typeof id === 'string' ? id : undefined, at);
    req.resume();
    req.once('end', () => {
      res.writeHead(200, { 'content-length': '0' });
      res.end();
    });
  }
}

const PROGRESS_EVERY_MS = 5_000;

export interface WaitLimits {
  /** Give up when no new event has arrived for this long. */
  stallMs: number;
  /** Give up after this long in any case. */
  maxMs: number;
  /** Returns why waiting is pointless (e.g. the sender died), or undefined. */
  problem?: () => string | undefined;
}

/**
 * Waits until `expected` distinct events have arrived, or gives up (with a warning): what did not
 * arrive is then reported as missing rather than thrown, so the figures still get printed.
 */
export async function waitForArrivals(
  log: ArrivalLog,
  expected: number,
  label: string,
  limits: WaitLimits,
): Promise<void> {
  const started = performance.now();
  let lastSize = log.size;
  let lastProgress = started;
  let lastReport = started;
  while (log.size < expected) {
    const now = performance.now();
    if (log.size > lastSize) {
      lastSize = log.size;
      lastProgress = now;
    }
    if (now - lastReport >= PROGRESS_EVERY_MS) {
      lastReport = now;
      console.error(`[bench] ${label}: ${log.size}/${expected} arrived`);
    }
    const problem = limits.problem?.();
    const reason =
      problem ??
      (now - lastProgress > limits.stallMs
        ? `nothing new for ${limits.stallMs / 1000} s`
        : now - started > limits.maxMs
          ? `still incomplete after ${limits.maxMs / 1000} s`
          : undefined);
    if (reason !== undefined) {
      console.warn(`[bench] ${label}: ${log.size}/${expected} arrived, giving up: ${reason}`);
      return;
    }
    await sleep(20);
  }
}
