import { Injectable } from '@nestjs/common';
import { DirectQueueRepository, LaneLease } from '@libs/persistence';
import { AttemptDeliveryUseCase, HeldClaim } from './attempt-delivery.use-case';
import { FirstAttemptSlots } from './first-attempt-slots';

/** Deliveries read from a lane per round trip. */
const LANE_BATCH = 20;
/** A lane looks whether its turn is over after this many attempts (and after each batch). */
const TURN_CHECK_EVERY = 4;

/**
 * How long a lane is leased for. The holder renews it while it lives (see `renew`), so this is
 * only how long an account waits after its worker died, beyond the lease of the attempt that
 * worker had under way (which the next holder waits out: order is kept).
 */
export const LANE_LEASE_MS = 15_000;

export interface LaneControl {
  /** False once the lease is lost or the worker is stopping: no further attempt starts. */
  owned(): boolean;
  /** True when the lane has had its turn and others may be waiting for a slot. */
  turnIsOver(): boolean;
}

/** Why `drain` returned. */
export type LaneOutcome = 'emptied' | 'turn-over' | 'let-go';

/**
 * Direct mode's counterpart of a Kafka lane: makes one account's first attempts one after
 * another in the order the api stored them, each through `AttemptDeliveryUseCase.executeFirst`
 * (the same engine, claims and leases as Kafka events). A lane is leased by one worker at a
 * time, so an account never has two first attempts under way, however many workers run.
 */
@Injectable()
export class DrainDirectLaneUseCase {
  constructor(
    private readonly queue: DirectQueueRepository,
    private readonly attempts: AttemptDeliveryUseCase,
    /** The same slots as the Kafka lanes: a worker draining both sends WORKER_CONCURRENCY at most. */
    private readonly slots: FirstAttemptSlots,
  ) {}

  /** Leases up to `limit` lanes with work waiting. */
  claim(limit: number): Promise<LaneLease[]> {
    return limit > 0 ? this.queue.claimLanes(limit, LANE_LEASE_MS) : Promise.resolve([]);
  }

  /** Extends the leases of the lanes held; returns the accounts whose lane is still held. */
  renew(lanes: LaneLease[]): Promise<Set<string>> {
    return this.queue.renewLanes(lanes, LANE_LEASE_MS);
  }

  /** Resolves once every claim given back so far is back: see `AttemptDeliveryUseCase`. */
  claimsGivenBack(): Promise<void> {
    return this.attempts.claimsGivenBack();
  }

  /**
   * Works through the lane until it is empty (it is then closed), its turn is over, or it is
   * no longer this worker's to work (shutdown, lost lease); the lane is given back in the last
   * two cases. Throws when Postgres fails: the lease then runs out unless renewed, and what was
   * done is found done again by whoever works the lane next.
   */
  async drain(lane: LaneLease, control: LaneControl): Promise<LaneOutcome> {
    // The lane's next delivery, claimed with the outcome of the one before it.
    const ahead: { claim: HeldClaim | null } = { claim: null };
    const giveBackAhead = async () => {
      const held = ahead.claim;
      ahead.claim = null;
      if (held !== null) await this.attempts.giveBack(held);
    };
    const take = (held: HeldClaim) => {
      void giveBackAhead();
      ahead.claim = held;
    };
    try {
      let done: string[] = [];
      for (;;) {
        const batch = await this.queue.nextInLane(lane, done, LANE_BATCH);
        done = [];
        if (batch === null) return 'let-go';
        if (batch.deliveryIds.length === 0) {
          // False: the api queued more meanwhile (or the lease was lost): read again.
          if (await this.queue.closeLane(lane, batch.enqueued)) return 'emptied';
          continue;
        }
        for (const [index, deliveryId] of batch.deliveryIds.entries()) {
          if (!control.owned()) {
            await giveBackAhead();
            await this.queue.releaseLane(lane, done, false);
            return 'let-go';
          }
          const held = ahead.claim?.delivery.id === deliveryId ? ahead.claim : null;
          if (held !== null) ahead.claim = null;
          // Not past a turn check: the lane may be handed back there.
          const following = batch.deliveryIds.at(index + 1);
          const next =
            following === undefined || (done.length + 1) % TURN_CHECK_EVERY === 0
              ? undefined
              : { deliveryId: () => (control.owned() ? following : null), take };
          // Null when there was nothing to make (made already, or by a manual attempt) or the
          // lane was lost while waiting for another holder's attempt of it; only the first is
          // done.
          await this.attempts.executeFirst(
            deliveryId,
            () => control.owned(),
            this.slots,
            held,
            next,
          );
          if (!control.owned()) continue;
          done.push(deliveryId);
          // Every few attempts, not only after a batch: an account whose webhook's rate limit
          // makes it wait between requests would otherwise keep its slot for a whole batch of
          // them. Not after every one: when sends are slow (every slot busy), a lane would then
          // be handed back and taken again for each delivery, three statements each.
          const checkpoint =
            done.length % TURN_CHECK_EVERY === 0 || done.length === batch.deliveryIds.length;
          if (checkpoint && control.turnIsOver()) {
            await giveBackAhead();
            await this.queue.releaseLane(lane, done, true);
            return 'turn-over';
          }
        }
      }
    } finally {
      // Not used (an error, or the lane was lost): no lease left to wait out.
      await giveBackAhead();
    }
  }

  /** Hands a lane back at once (shutdown), keeping its place in line. */
  async release(lane: LaneLease): Promise<void> {
    await this.queue.releaseLane(lane, [], false);
  }
}
