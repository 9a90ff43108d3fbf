import { Injectable } from '@nestjs/common';
import { WebhookEventMessage, serializeEvent } from '@libs/contracts';
import { GroupCommit } from '@libs/messaging';
import { DeliveryRepository, IncomingEvent, isPermanentDataError } from '@libs/persistence';
import {
  AttemptDeliveryUseCase,
  AttemptGates,
  HeldClaim,
  NextInLane,
} from './attempt-delivery.use-case';

export interface EventSource {
  partition: number;
  offset: string;
  /** Size of the message's value: what the event weighs in a store statement. */
  bytes: number;
}

interface EventToStore {
  event: WebhookEventMessage;
  source: EventSource;
  claimToken: string | null;
}

/** The event as the worker stores it, from where its message sits. */
export function incomingEvent(event: WebhookEventMessage, source: EventSource): IncomingEvent {
  return {
    id: event.id,
    accountId: event.account_id,
    type: event.type,
    body: serializeEvent(event),
    occurredAt: new Date(event.timestamp),
    kafkaPartition: source.partition,
    kafkaOffset: source.offset,
  };
}

/** A stored event: its deliveries waiting for their first attempt, the first maybe claimed. */
export interface StoredDeliveries {
  deliveryIds: string[];
  /** The first delivery, claimed by the store itself (when asked): the lane sends it as is. */
  held: HeldClaim | null;
}

/**
 * Events stored by one statement at most. A batch forms only from what arrives while the
 * previous ones are being written, so this bounds a statement's size, not the latency.
 */
const STORE_BATCH = 200;
/** Bytes of events in one store statement at most; a larger event is stored alone. */
const STORE_BATCH_BYTES = 4 * 1024 * 1024;
/** Store statements under way at once (each holds one pooled connection). */
const STORE_IN_FLIGHT = 2;

/**
 * What the worker does for one event from Kafka: store it with a delivery per subscribed
 * webhook, then make each delivery's first attempt, one after another. Both steps are safe to
 * run again for the same event: nothing is stored twice, and a delivery that already had its
 * first attempt (or has one under way elsewhere) is not sent again.
 *
 * Events arriving together are stored together (group commit): one statement for all of
 * them, their webhooks chosen inside it, however many messages are in flight.
 */
@Injectable()
export class DeliverEventUseCase {
  private readonly storing = new GroupCommit<EventToStore, StoredDeliveries>(
    (batch) => this.storeBatch(batch),
    // A batch Postgres refuses is stored event by event: only the refused event fails.
    {
      maxBatch: STORE_BATCH,
      maxInFlight: STORE_IN_FLIGHT,
      maxWeight: STORE_BATCH_BYTES,
      weightOf: ({ source }) => source.bytes,
      retryAloneWhen: isPermanentDataError,
    },
  );

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly attempts: AttemptDeliveryUseCase,
  ) {}

  /** Gives back a claim the store made that its lane will not use (see `store`). */
  giveBack(held: HeldClaim): Promise<void> {
    return this.attempts.giveBack(held);
  }

  /** Resolves once every claim given back so far is back: see `AttemptDeliveryUseCase`. */
  claimsGivenBack(): Promise<void> {
    return this.attempts.claimsGivenBack();
  }

  /** Throws unless the database answers: a consumer waiting out an outage asks this. */
  async databaseReady(): Promise<void> {
    await this.deliveries.ping();
  }

  /**
   * Stores the event; returns its deliveries still waiting for their first attempt. With a
   * `claimToken` (its lane will attempt it at once), the first of them is claimed by the same
   * statement with it, which spares the lane a round trip; the lane must send it or give it
   * back (`giveBack`). Retries of one store pass the same token: one that finds the event
   * stored by a try whose answer was lost gives that try's claim back.
   */
  store(
    event: WebhookEventMessage,
    source: EventSource,
    claimToken: string | null = null,
  ): Promise<StoredDeliveries> {
    return this.storing.submit({ event, source, claimToken });
  }

  /** Gives back what a store with this token may have claimed (its outcome unknown). */
  releaseStoreClaim(claimToken: string): Promise<void> {
    return this.deliveries.releaseUnusedClaims([claimToken]);
  }

  /**
   * One statement: the events, and a delivery for each webhook of their accounts that is
   * live and subscribed to their type (chosen by Postgres, in the same snapshot).
   */
  private async storeBatch(batch: EventToStore[]): Promise<StoredDeliveries[]> {
    // No later than the claims: their leases end no earlier than this plus the lease.
    const claimedAt = Date.now();
    const stored = await this.deliveries.storeEventsClaimingFirst(
      batch.map(({ event, source }) => incomingEvent(event, source)),
      { tokens: batch.map(({ claimToken }) => claimToken), leaseMs: this.attempts.leaseMs },
    );
    return stored.map(({ awaiting, claimed }) => ({
      deliveryIds: awaiting,
      held: claimed === null ? null : { delivery: claimed, claimedAt },
    }));
  }

  /**
   * Makes the first attempts, in order, one at a time, as long as `stillOwned()` says the
   * event is still this worker's to deliver. False when it stopped early: the event's Kafka
   * message is then read again (here or by the partition's next owner), which finishes it.
   * Each attempt's outcome is recorded with the claim of the next delivery (`after` names the
   * one after the last: the lane's next event's first).
   */
  async attemptInOrder(
    { deliveryIds, held }: StoredDeliveries,
    stillOwned: () => boolean,
    gates?: AttemptGates,
    after?: NextInLane,
  ): Promise<boolean> {
    let claim = held;
    const take = (next: HeldClaim) => {
      // Never two held at once (one would be left to its lease): the older goes back.
      if (claim !== null) void this.attempts.giveBack(claim);
      claim = next;
    };
    try {
      for (const [index, deliveryId] of deliveryIds.entries()) {
        if (!stillOwned()) return false;
        const mine = claim?.delivery.id === deliveryId ? claim : null;
        if (mine !== null) claim = null;
        const following = deliveryIds.at(index + 1);
        const next =
          following === undefined
            ? after
            : { deliveryId: () => (stillOwned() ? following : null), take };
        const attempted = await this.attempts.executeFirst(
          deliveryId,
          stillOwned,
          gates,
          mine,
          next,
        );
        // Stopped without attempting it (the event stopped being this worker's meanwhile, if
        // only for a rebalance): not done, whoever reads the message next makes it. Finishing
        // the message here would let its offset be committed with the delivery never made.
        if (attempted === null && !stillOwned()) return false;
      }
      return true;
    } finally {
      // Not used (the event is no longer this worker's): no lease left to wait out.
      if (claim !== null) await this.attempts.giveBack(claim);
    }
  }
}
