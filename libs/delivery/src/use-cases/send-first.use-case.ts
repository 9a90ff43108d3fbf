import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@libs/config';
import { WebhookEventMessage } from '@libs/contracts';
import { GroupCommit, withDeadline } from '@libs/messaging';
import {
  AccountRouting,
  ClaimedDelivery,
  EndpointFailurePolicy,
  EventWithFirstAttempts,
  FirstAttemptRepository,
  IncomingEvent,
  LiveWebhook,
  UnstoredDelivery,
  isPermanentDataError,
} from '@libs/persistence';
import { matchesEventType } from '../matching/event-type-matcher';
import { AttemptDeliveryUseCase, Slot } from './attempt-delivery.use-case';
import { EventSource, incomingEvent } from './deliver-event.use-case';

/**
 * How old a reading of the webhook change counter may be when a first attempt goes out: a
 * webhook disabled, deleted or changed longer ago than this is not sent to (a stored first
 * attempt reads its webhook at its claim, and may wait up to a second for its slot).
 */
const FRESH_READING_MS = 1000;
/** Accounts whose webhooks stay cached at most; the least recently used go first. */
const CACHED_ACCOUNTS = 10_000;
/** Events looked up by one statement at most (which of them are stored, and the counter). */
const LOOK_BATCH = 500;
/** Accounts whose webhooks one statement reads at most. */
const ROUTING_BATCH = 200;
/** Events one statement stores with their first outcomes at most. */
const RECORD_BATCH = 200;
/** Pause between tries of a statement that failed, growing up to the last. */
const RECORD_BACKOFF_MS = [100, 250, 500, 1000, 2000];
/** How long a worker shutting down waits for outcomes still on their way into Postgres. */
const RECORD_WAIT_MS = 10_000;

/** What a lane needs to know before sending an event's first attempts itself. */
export interface Look {
  /** The event is stored already (read again): it takes the stored way. */
  stored: boolean;
  /**
   * Its account's change counter in the same snapshot: routing read at this version or
   * later is valid for the event.
   */
  version: bigint;
}

/** The first outcome of a delivery sent before it was stored. */
type Outcome = NonNullable<UnstoredDelivery['outcome']>;

/**
 * An event whose first attempts go out before it is stored: its deliveries (one per live
 * subscribed webhook when its lane reached it) and their outcomes so far.
 */
export class UnstoredEvent {
  readonly deliveries: UnstoredDelivery[];
  /** The delivery whose attempt is under way. */
  current: UnstoredDelivery | null = null;
  /** Deliveries left out: their webhook went (or unsubscribed) before their attempt. */
  readonly gone = new Set<string>();
  /**
   * Set when the event was stored while an attempt was under way (a rebalance began): true
   * once its rows are there, the one under way claimed; its outcome is then recorded alone.
   */
  storedEarly: Promise<boolean> | null = null;

  constructor(
    readonly event: IncomingEvent,
    readonly webhooks: LiveWebhook[],
  ) {
    this.deliveries = webhooks.map((webhook) => ({
      id: randomUUID(),
      webhookId: webhook.id,
      token: randomUUID(),
      outcome: null,
      leaseMs: null,
    }));
  }
}

/**
 * First attempts made before their event is stored (Kafka mode, DELIVERY_SEND_FIRST): the
 * lane learns where the event goes from a cache of each account's live webhooks, valid while
 * the webhook change counter reads as when it was filled; it sends; and the event is stored
 * with its deliveries, their outcomes and the attempts in one statement shared by many events
 * (group commit), while the lane goes on. Writing nothing before the request spares a
 * delivery two of its row's three writes and the worker the store's statement. What each
 * guarantee becomes is in docs/design-first-attempt-before-row.md.
 */
@Injectable()
export class SendFirstUseCase {
  private readonly logger = new Logger(SendFirstUseCase.name);
  private readonly policy: EndpointFailurePolicy;
  /** Accounts' live webhooks, least recently used first, each with the version read with it. */
  private readonly cache = new Map<string, AccountRouting>();
  /**
   * Per account, the newest reading of its change counter and when the statement that read
   * it began (least recently used first, as many accounts as the cache).
   */
  private readonly readings = new Map<string, { version: bigint; startedAt: number }>();
  /**
   * Webhooks that answered 410 Gone, with their account's version then: left out of the
   * routing until the version moves (their disabling, stored with the outcome, moves it).
   */
  private readonly gone = new Map<string, bigint>();
  /** Records under way (see `recorded`). */
  private readonly recording = new Set<Promise<boolean>>();

  private readonly looks = new GroupCommit<{ accountId: string; id: string | null }, Look>(
    async (batch) => {
      const startedAt = Date.now();
      const looked = await this.repository.look(batch);
      batch.forEach(({ accountId }, index) =>
        this.noteReading(accountId, looked[index].version, startedAt),
      );
      return looked;
    },
    { maxBatch: LOOK_BATCH, maxInFlight: 1 },
  );
  private readonly routingReads = new GroupCommit<string, AccountRouting>(
    async (accounts) => {
      const startedAt = Date.now();
      const routing = await this.repository.routing([...new Set(accounts)]);
      return accounts.map((account) => {
        const entry = routing.get(account) ?? { version: 0n, webhooks: [] };
        this.noteReading(account, entry.version, startedAt);
        this.remember(account, entry);
        return entry;
      });
    },
    { maxBatch: ROUTING_BATCH, maxInFlight: 1 },
  );
  private readonly records = new GroupCommit<EventWithFirstAttempts, void>(
    async (batch) => {
      const { notDisabled } = await this.repository.record(batch, this.policy);
      // Still enabled: sent to again (it answers 410 again, and its disabling is tried again).
      for (const webhookId of notDisabled) this.gone.delete(webhookId);
      return batch.map(() => undefined);
    },
    {
      maxBatch: RECORD_BATCH,
      maxInFlight: 1,
      // A statement writes a delivery row once: the same event's rows go in separate ones.
      conflictKey: ({ event }) => JSON.stringify([event.accountId, event.id]),
      retryAloneWhen: isPermanentDataError,
    },
  );

  constructor(
    private readonly repository: FirstAttemptRepository,
    private readonly attempts: AttemptDeliveryUseCase,
    config: AppConfig,
  ) {
    this.policy = {
      failingForMs: config.delivery.failingWebhook.disableAfterMs,
      minFailures: config.delivery.failingWebhook.minAttempts,
    };
  }

  /**
   * Whether the event is stored already, and its account's change counter, read after the
   * call (so after its message was read: a webhook disabled before the event was published is
   * seen).
   */
  look(event: WebhookEventMessage): Promise<Look> {
    return this.looks.submit({ accountId: event.account_id, id: event.id });
  }

  /**
   * The event to send, with the live webhooks of its account subscribed to its type, as of
   * `version` or later, in the order their first attempts go.
   */
  async prepare(
    event: WebhookEventMessage,
    source: EventSource,
    version: bigint,
  ): Promise<UnstoredEvent> {
    const routing = await this.routingOf(event.account_id, version);
    return new UnstoredEvent(
      incomingEvent(event, source),
      this.live(routing).filter((webhook) => matchesEventType(webhook.eventTypes, event.type)),
    );
  }

  /**
   * The webhook as it is now (read at most FRESH_READING_MS ago), or null when it is no
   * longer live or no longer subscribed: checked right before each first attempt.
   */
  async current(unstored: UnstoredEvent, webhookId: string): Promise<LiveWebhook | null> {
    const { accountId, type } = unstored.event;
    let reading = this.readings.get(accountId);
    if (reading === undefined || Date.now() - reading.startedAt > FRESH_READING_MS) {
      reading = {
        version: (await this.looks.submit({ accountId, id: null })).version,
        startedAt: 0,
      };
    }
    const routing = await this.routingOf(accountId, reading.version);
    const webhook = this.live(routing).find((live) => live.id === webhookId);
    return webhook !== undefined && matchesEventType(webhook.eventTypes, type) ? webhook : null;
  }

  /**
   * Sends the delivery's first attempt in a `send` slot and returns its outcome. A webhook
   * that answered 410 Gone is not sent to again (its disabling is stored with the outcome,
   * later): the account's next events leave it out meanwhile.
   */
  async send(
    unstored: UnstoredEvent,
    delivery: UnstoredDelivery,
    webhook: LiveWebhook,
    slot: Slot,
  ): Promise<Outcome> {
    const { event } = unstored;
    const claimed: ClaimedDelivery = {
      id: delivery.id,
      claimToken: delivery.token,
      eventId: event.id,
      accountId: event.accountId,
      trigger: 'scheduled',
      attemptNumber: 1,
      scheduledAttempts: 0,
      previous: { status: 'pending', nextAttemptAt: null },
      occurredAt: event.occurredAt,
      body: event.body,
      webhook: { ...webhook, active: true },
    };
    const outcome = {
      attemptId: randomUUID(),
      ...(await this.attempts.sendUnstored(claimed, slot)),
    };
    const { transition } = outcome;
    if (transition.status === 'discarded' && transition.disableWebhookReason !== undefined) {
      // Left out of any routing read at this version or before (its disabling moves it on).
      const read = [this.cache.get(event.accountId), this.readings.get(event.accountId)];
      const version = read.reduce(
        (max, known) => (known && known.version > max ? known.version : max),
        0n,
      );
      setRecent(this.gone, webhook.id, version);
    }
    return outcome;
  }

  /**
   * Stores the event with these deliveries (with their outcomes, those not attempted as
   * waiting), trying again while Postgres fails, as long as `keepTrying()`. True once stored;
   * false when it gave up. Throws when Postgres refuses the event for good.
   */
  async record(
    event: IncomingEvent,
    deliveries: UnstoredDelivery[],
    keepTrying: () => boolean,
    onFailure: (error: unknown) => void,
  ): Promise<boolean> {
    const recorded = (async () => {
      for (let failures = 0; ; failures += 1) {
        try {
          await this.records.submit({ event, deliveries });
          return true;
        } catch (error) {
          if (isPermanentDataError(error)) throw error;
          onFailure(error);
          if (!keepTrying()) return false;
          await sleep(RECORD_BACKOFF_MS[Math.min(failures, RECORD_BACKOFF_MS.length - 1)]);
        }
      }
    })();
    this.recording.add(recorded);
    try {
      return await recorded;
    } finally {
      this.recording.delete(recorded);
    }
  }

  /**
   * Stores the event now, while `unstored.current`'s attempt is under way (a rebalance began:
   * the partition's next owner reads the message again, and must find the rows, the one
   * under way claimed). One try; false when it failed (the outcome is then stored as usual).
   */
  storeEarly(unstored: UnstoredEvent): Promise<boolean> {
    const { current } = unstored;
    const deliveries = unstored.deliveries
      .filter((delivery) => !unstored.gone.has(delivery.id))
      .map((delivery) =>
        delivery === current ? { ...delivery, leaseMs: this.attempts.leaseMs } : delivery,
      );
    unstored.storedEarly = this.records.submit({ event: unstored.event, deliveries }).then(
      () => true,
      (error: unknown) => {
        this.logger.warn(`Storing event ${unstored.event.id} early failed: ${String(error)}`);
        return false;
      },
    );
    return unstored.storedEarly;
  }

  /** The event's deliveries waiting for their first attempt, as stored. */
  awaiting(event: IncomingEvent): Promise<string[]> {
    return this.repository.awaiting(event);
  }

  /**
   * Resolves once every record under way has landed or given up, or after RECORD_WAIT_MS:
   * a worker shutting down waits for this before its last offset commit (an outcome not
   * stored leaves its message to be read again, and its event sent again).
   */
  async recorded(): Promise<void> {
    const all = async () => {
      while (this.recording.size > 0) await Promise.allSettled(this.recording);
    };
    try {
      await withDeadline(all(), RECORD_WAIT_MS, 'storing first outcomes');
    } catch (error) {
      this.logger.warn(`${String(error)}: their events will be read and sent again`);
    }
  }

  private async routingOf(accountId: string, version: bigint): Promise<AccountRouting> {
    const cached = this.cache.get(accountId);
    if (cached !== undefined && cached.version >= version) {
      // Least recently used first: a hit moves the account to the end.
      this.cache.delete(accountId);
      this.cache.set(accountId, cached);
      return cached;
    }
    return this.routingReads.submit(accountId);
  }

  /** The routing's webhooks, without those known gone since it was read. */
  private live(routing: AccountRouting): LiveWebhook[] {
    return routing.webhooks.filter((webhook) => {
      const goneAt = this.gone.get(webhook.id);
      return goneAt === undefined || routing.version > goneAt;
    });
  }

  private remember(accountId: string, entry: AccountRouting): void {
    const cached = this.cache.get(accountId);
    if (cached !== undefined && cached.version > entry.version) return;
    setRecent(this.cache, accountId, entry);
  }

  private noteReading(accountId: string, version: bigint, startedAt: number): void {
    const reading = this.readings.get(accountId);
    if (reading !== undefined && reading.startedAt >= startedAt) return;
    setRecent(this.readings, accountId, { version, startedAt });
  }
}

/** Sets the entry as the most recent one, dropping the least recent past CACHED_ACCOUNTS. */
function setRecent<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > CACHED_ACCOUNTS) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
