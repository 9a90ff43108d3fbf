import {
  BeforeApplicationShutdown,
  Injectable,
  Logger,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { DrainDirectLaneUseCase, LANE_LEASE_MS } from '@libs/delivery';
import { DirectWorkListener, LaneLease } from '@libs/persistence';
import { WorkerMetrics } from '../metrics/worker-metrics';

/** Leases are renewed three times per lease: two renewals may fail before a lane is lost. */
const RENEW_INTERVAL_MS = LANE_LEASE_MS / 3;
/** A lane counts as lost this long before its lease runs out, whatever the clocks say. */
const LEASE_SAFETY_MS = 2_000;
/** How long a lane keeps its slot while every slot is taken (others may wait for one). */
const TURN_MS = 2_000;
/** Backoff while Postgres fails in the middle of a lane. */
const FAILURE_BACKOFF_MS = [250, 500, 1000, 2000, 5000];

interface HeldLane {
  lease: LaneLease;
  /** Local time until which the lease surely holds: from before the statement that set it. */
  validUntil: number;
  since: number;
  lost: boolean;
}

/**
 * Delivers direct-mode events (stored by an api with DELIVERY_MODE=direct): leases account
 * lanes in Postgres and works through each, up to WORKER_CONCURRENCY lanes at once. It runs in
 * every worker, whatever its own mode, so Kafka-mode workers deliver direct-mode events too.
 * New lanes are found when an api says so (LISTEN) and by polling every RETRY_POLL_INTERVAL_MS;
 * the lanes of a worker that died are taken up once their lease has run out.
 */
@Injectable()
export class DirectLaneScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(DirectLaneScheduler.name);
  private readonly held = new Map<string, HeldLane>();
  private readonly running = new Set<Promise<void>>();
  private readonly listener: DirectWorkListener;
  private pollTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private pollAgain = false;
  private renewing = false;
  private pollFailing = false;
  private stopping = false;

  constructor(
    private readonly config: AppConfig,
    private readonly lanes: DrainDirectLaneUseCase,
    private readonly metrics: WorkerMetrics,
  ) {
    this.listener = new DirectWorkListener(config.database.url, () => this.poll());
  }

  onApplicationBootstrap(): void {
    this.pollTimer = setInterval(() => this.poll(), this.config.delivery.retryPollIntervalMs);
    this.renewTimer = setInterval(() => void this.renew(), RENEW_INTERVAL_MS);
    // Polls once connected, and at once in case it cannot connect.
    this.listener.start();
    this.poll();
  }

  /** Lets every attempt under way finish, then gives the lanes back for others to go on. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.listener.close();
    await this.polling;
    await Promise.all(this.running);
    await this.lanes.claimsGivenBack();
    if (this.renewTimer) clearInterval(this.renewTimer);
  }

  private poll(): void {
    if (this.stopping) return;
    if (this.polling !== null) {
      // A nudge during a claim may be for a lane the claim did not see yet.
      this.pollAgain = true;
      return;
    }
    this.pollAgain = false;
    this.polling = this.claimAndStart().finally(() => {
      this.polling = null;
      if (this.pollAgain) this.poll();
    });
  }

  private async claimAndStart(): Promise<void> {
    const free = this.config.delivery.concurrency - this.held.size;
    if (free <= 0) return;
    const sentAt = Date.now();
    try {
      for (const lease of await this.lanes.claim(free)) this.start(lease, sentAt);
      if (this.pollFailing) this.logger.log('Polling for direct-mode lanes works again');
      this.pollFailing = false;
    } catch (error) {
      // Once per outage, not once per poll.
      if (!this.pollFailing) {
        this.logger.warn(`Polling for direct-mode lanes failed: ${String(error)}`);
      }
      this.pollFailing = true;
    }
  }

  private start(lease: LaneLease, sentAt: number): void {
    const lane: HeldLane = {
      lease,
      validUntil: sentAt + LANE_LEASE_MS - LEASE_SAFETY_MS,
      since: Date.now(),
      lost: false,
    };
    // A lane of ours whose lease ran out (Postgres was away) and claimed again: the old
    // holder sees it is no longer valid and stops.
    this.held.set(lease.accountId, lane);
    // A lane has at most one attempt under way: its account counts as one delivery in flight.
    this.metrics.eventAccepted();
    const work = this.work(lane).finally(() => {
      this.metrics.eventFinished();
      if (this.held.get(lease.accountId) === lane) this.held.delete(lease.accountId);
      this.running.delete(work);
      // A slot is free: take the next lane waiting.
      this.poll();
    });
    this.running.add(work);
  }

  private async work(lane: HeldLane): Promise<void> {
    const control = {
      owned: () => this.owns(lane),
      turnIsOver: () =>
        this.held.size >= this.config.delivery.concurrency && Date.now() - lane.since > TURN_MS,
    };
    for (let failures = 0; this.owns(lane); failures += 1) {
      try {
        await this.lanes.drain(lane.lease, control);
        return;
      } catch (error) {
        if (failures === 0) {
          this.logger.warn(`Lane of account ${lane.lease.accountId} failed: ${String(error)}`);
        }
        await sleep(FAILURE_BACKOFF_MS[Math.min(failures, FAILURE_BACKOFF_MS.length - 1)]);
      }
    }
    // Shutting down after a failure: hand the lane over now rather than at its expiry.
    if (this.stopping && !lane.lost && Date.now() < lane.validUntil) {
      await this.lanes.release(lane.lease).catch(() => undefined);
    }
  }

  private owns(lane: HeldLane): boolean {
    return !this.stopping && !lane.lost && Date.now() < lane.validUntil;
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    const lanes = [...this.held.values()];
    const sentAt = Date.now();
    try {
      const still = await this.lanes.renew(lanes.map((lane) => lane.lease));
      for (const lane of lanes) {
        if (still.has(lane.lease.accountId)) {
          lane.validUntil = sentAt + LANE_LEASE_MS - LEASE_SAFETY_MS;
        } else {
          // Closed meanwhile, or taken over after this worker stalled past the lease.
          lane.lost = true;
        }
      }
    } catch (error) {
      // The next renewal may get through in time; if not, the lanes count as lost.
      this.logger.warn(`Renewing direct-mode lane leases failed: ${String(error)}`);
    } finally {
      this.renewing = false;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
