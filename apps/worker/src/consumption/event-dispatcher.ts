import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { KafkaContext } from '@nestjs/microservices';
import { IHeaders, KafkaMessage } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { WebhookEventMessage, parseEventMessage } from '@libs/contracts';
import {
  DeliverEventUseCase,
  EventSource,
  FirstAttemptSlots,
  HeldClaim,
  Look,
  NextInLane,
  SendFirstUseCase,
  StoredDeliveries,
  UnstoredEvent,
} from '@libs/delivery';
import { withDeadline } from '@libs/messaging';
import { LiveWebhook, isPermanentDataError } from '@libs/persistence';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { AssignmentWatch } from './assignment-watch';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { KeyedWorkPool } from './keyed-work-pool';
import { PartitionOffsets } from './partition-offsets';

/** Commits are batched: one round trip to the broker per this interval at most. */
const COMMIT_INTERVAL_MS = 200;
/**
 * Events held, all accounts together: each is stored at once, so only where its message sits
 * and its delivery ids wait in memory (never its value) for its account's lane: about 800
 * bytes each, so 40 MB at this bound, well inside the worker's 192 MB heap. Past it the
 * consumer waits before reading on (the backlog waits in Kafka instead): memory stays bounded
 * whatever the backlog (one account with a hanging receiver and a long backlog included).
 */
const MAX_HELD_EVENTS = 50_000;
/**
 * Events read but not yet stored, whose values are in memory (raw and parsed): past either
 * bound the consumer waits. Reading is much faster than storing when a backlog is caught up,
 * so with large events the bytes are what matter.
 */
const MAX_UNSTORED_EVENTS = 2_000;
const MAX_UNSTORED_BYTES = 16 * 1024 * 1024;
/**
 * Events whose first attempts go out before they are stored (DELIVERY_SEND_FIRST) wait in
 * memory, value included, from their message's arrival until their outcomes are stored: at
 * most this many, this many bytes of message values, and this many of one account (an eighth
 * of the whole: a hanging receiver fills its own account's share only, and it takes eight
 * busy ones to fill the rest). Past an account's share its next event is stored first, as
 * without the setting, and its lane takes the stored way for it. At the bounds of all
 * accounts together the consumer waits for room instead (a backlog waits in Kafka, where it
 * costs nothing, rather than being stored ahead of its lanes), for SEND_FIRST_ROOM_WAIT_MS at
 * most; then the event is stored first. When no room at all was freed in that time, the
 * events held are stuck (hanging receivers), and new events are stored first without waiting
 * until a quarter of the room is free again.
 */
export const MAX_SEND_FIRST_EVENTS = 2_000;
const MAX_SEND_FIRST_BYTES = 16 * 1024 * 1024;
export const MAX_SEND_FIRST_PER_ACCOUNT = 250;
const SEND_FIRST_ROOM_WAIT_MS = 1000;
/**
 * How long an event to send first may wait for its lane unstored: past it, it is stored (and
 * so in the history) and its lane takes the stored way for it. A lane held up by a slow or
 * hanging receiver thus keeps its account's events visible, and their memory bounded.
 */
const MAX_UNSTORED_WAIT_MS = 5000;
/**
 * Right after the group was joined, how long the first look at a message waits: a member
 * that just lost the partition stores its attempts under way as the rebalance begins, and
 * this member must find them stored (or send them twice).
 */
const HANDOVER_GRACE_MS = 300;
/** An account holding this many events is backlogged: its further events count as deferred. */
const BACKLOG_THRESHOLD = 20;
/**
 * Lanes working at once, per delivery slot: a lane waiting for Postgres (its claim, its
 * outcome) holds no slot, so more lanes than slots keep every slot sending.
 */
const LANES_PER_SLOT = 10;
/** How long one check of a failing dependency may take before the handler heartbeats again. */
const READY_DEADLINE_MS = 5000;
/** Longest time a handler waiting for a dependency goes without heartbeating. */
const HEARTBEAT_WHILE_WAITING_MS = 1000;
/** Backoff while a dependency (Postgres, the dead-letter topic) is failing. */
const FAILURE_BACKOFF_MS = [250, 500, 1000, 2000, 5000];

/**
 * Where a message this worker works on sits, and the generation of its partition: all that
 * is kept of an event once it is stored, besides its delivery ids.
 */
interface MessageRef {
  topic: string;
  partition: number;
  offset: string;
  offsets: PartitionOffsets;
  token: number;
}

/** An event in its account's lane, from its message's arrival until its lane is done with it. */
interface LaneEntry {
  ref: MessageRef;
  /** Undefined while it is being stored; null when there is nothing to attempt. */
  stored: StoredDeliveries | null | undefined;
  /**
   * Its first delivery, claimed ahead by the statement that recorded the outcome of the
   * lane's previous event (see `nextInLane`); its lane sends it or gives it back.
   */
  claimedAhead: HeldClaim | null;
  /** The account's next event in the lane, once one arrives. */
  next?: LaneEntry;
}

/**
 * Takes each Kafka message from the handler, starts storing its event (stores of messages
 * arriving together share one statement) and queues it in its account's lane, then returns:
 * accounts proceed in parallel while each keeps Kafka order, and the partitions keep flowing.
 * Once stored, only where the message sits and its delivery ids stay in memory. Offsets are
 * committed per partition up to the lowest message whose first attempts are not yet recorded,
 * so what is not committed is owned by whoever consumes the partition: after a crash or a
 * rebalance its next owner reads it again and finishes it (every step is idempotent).
 *
 * The handler never throws (kafkajs would read the same message again and again): a message
 * that is not an event goes to the dead-letter topic; a failing dependency makes the handler
 * wait, heartbeating, until it is back.
 */
@Injectable()
export class EventDispatcher implements BeforeApplicationShutdown {
  private readonly logger = new Logger(EventDispatcher.name);
  private readonly pool: KeyedWorkPool;
  private readonly partitions = new Map<number, PartitionOffsets>();
  /** The last event in each account's lane (each entry links to the one after it). */
  private readonly laneTails = new Map<string, LaneEntry>();
  private unstored = 0;
  private unstoredBytes = 0;
  /** Events to send before storing them, in memory until stored (see MAX_SEND_FIRST_EVENTS). */
  private readonly sendFirstHeld = { events: 0, bytes: 0, perAccount: new Map<string, number>() };
  /** Handlers waiting for send-first room, woken when some is released. */
  private sendFirstRoomFreed: (() => void)[] = [];
  /** No room came in time (see SEND_FIRST_ROOM_WAIT_MS): new events take the stored way. */
  private sendFirstCongested = false;
  /** Events with first attempts under way before their rows exist. */
  private readonly sendingUnstored = new Set<UnstoredEvent>();
  /**
   * With DELIVERY_SEND_FIRST, per event (account and id), when its latest entry in a lane is
   * done: the same event read twice (published twice, or read again while its first reading's
   * outcomes are on their way to Postgres) waits for the first, then takes the stored way,
   * which finds it stored.
   */
  private readonly eventTurns = new Map<string, Promise<void>>();
  private readonly sendsFirst: boolean;
  private readonly assignment = new AssignmentWatch({
    onRejoined: () => this.forgetAllWork(),
    onCommitted: (partition, offset) => this.partitions.get(partition)?.committed(offset),
    onHold: () => this.storeUnderWayEarly(),
  });
  private topic = '';
  private readonly maxEventBytes: number;
  /** Set when Postgres failed; new messages wait until it answers again. */
  private databaseTrouble = false;
  private commitTimer: NodeJS.Timeout | null = null;
  private commitInFlight: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(
    config: AppConfig,
    private readonly deliverEvent: DeliverEventUseCase,
    private readonly sendFirst: SendFirstUseCase,
    private readonly deadLetters: DeadLetterPublisher,
    private readonly metrics: WorkerMetrics,
    /** Shared with the direct-mode lanes this worker drains too: WORKER_CONCURRENCY in all. */
    private readonly slots: FirstAttemptSlots,
  ) {
    const concurrency = config.delivery.concurrency;
    this.maxEventBytes = config.http.maxEventBytes;
    this.sendsFirst = config.delivery.sendFirst;
    this.pool = new KeyedWorkPool(concurrency * LANES_PER_SLOT, (key, error) =>
      this.logger.error(`Unexpected failure in the lane of account ${key}: ${String(error)}`),
    );
  }

  async dispatch(context: KafkaContext): Promise<void> {
    // While shutting down nothing new starts; what is not committed is read again later.
    if (this.stopping) return;
    this.assignment.watch(context.getConsumer());
    this.topic = context.getTopic();
    const partition = context.getPartition();
    const offsets = this.partitionOffsets(partition);
    const message = context.getMessage();
    const ref: MessageRef = {
      topic: context.getTopic(),
      partition,
      offset: message.offset,
      offsets,
      token: offsets.begin(BigInt(message.offset)),
    };
    this.metrics.eventConsumed();
    try {
      await this.handle(ref, message, context.getHeartbeat());
    } catch (error) {
      // Not expected: every step catches what it can meet. The offset stays unfinished, so it
      // is never committed past, and it is read again after the next rebalance or restart.
      this.logger.error(`Message ${describe(ref)} left unfinished: ${String(error)}`);
    }
  }

  private async handle(
    ref: MessageRef,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    if (this.databaseTrouble && !(await this.waitFor(() => this.databaseAnswers(), heartbeat))) {
      return;
    }
    const parsed = parseEventMessage(message.value, this.maxEventBytes);
    if (!parsed.valid) {
      await this.deadLetter(ref, message, parsed.code, parsed.reason, heartbeat);
      return;
    }
    const roomLeft = () =>
      Promise.resolve(
        this.pool.size < MAX_HELD_EVENTS &&
          this.unstored < MAX_UNSTORED_EVENTS &&
          this.unstoredBytes < MAX_UNSTORED_BYTES,
      );
    if (!(await roomLeft()) && !(await this.waitFor(roomLeft, heartbeat))) return;
    const event = parsed.event;
    const held = this.pool.heldFor(event.account_id);
    if (held >= BACKLOG_THRESHOLD) this.metrics.eventDeferred();
    const turn = this.sendsFirst ? this.takeTurn(event) : null;
    if (turn !== null) {
      const room = await this.roomToSendFirst(event.account_id, message, heartbeat);
      if (room === 'give up') {
        // A rebalance or a shutdown: the message is read again from the last commit.
        turn.done();
        return;
      }
      if (room === 'send first') {
        this.queueToSendFirst(ref, message, event, turn);
        return;
      }
    }
    const earlier = turn?.earlier;
    // Its lane starts on it at once: the store claims its first delivery too.
    const claimToken =
      earlier === undefined && held === 0 && this.pool.startsAtOnce ? randomUUID() : null;
    const entry: LaneEntry = { ref, stored: undefined, claimedAhead: null };
    const stored = this.storeAfter(earlier, event, ref, message, claimToken).then((result) => {
      entry.stored = result;
      return result;
    });
    const account = event.account_id;
    const previous = this.laneTails.get(account);
    if (previous !== undefined) previous.next = entry;
    this.laneTails.set(account, entry);
    this.pool.submit(account, async () => {
      try {
        await this.runInLane(entry, stored, this.nextInLane(entry));
      } finally {
        turn?.done();
        if (this.laneTails.get(account) === entry) this.laneTails.delete(account);
      }
    });
  }

  /**
   * Stores the event once `earlier` (the same event's earlier entry in a lane, whose outcomes
   * may still be on their way) is done, so that it is claimable only after it. A method of its
   * own so that no closure of `handle` holds the message: kafkajs's message shares its whole
   * fetch response's buffer, and a stored event's lane entry may wait long (a hanging
   * receiver ahead of it) with only its place and its delivery ids in memory.
   */
  private storeAfter(
    earlier: Promise<void> | undefined,
    event: WebhookEventMessage,
    ref: MessageRef,
    message: KafkaMessage,
    claimToken: string | null,
  ): Promise<StoredDeliveries | null> {
    if (earlier === undefined) return this.store(event, ref, message, claimToken);
    // Waiting for `earlier` may take long (a hanging receiver): a copy of its own meanwhile.
    const own = detached(message);
    return earlier.then(() => this.store(event, ref, own, null));
  }

  /**
   * The event's turn among its entries in lanes (see `eventTurns`). A turn is over only once
   * the earlier one is too, even when its entry gave up before waiting for it: the next entry
   * of the event (read again after a rebalance) must still wait for the earlier outcomes.
   */
  private takeTurn(event: WebhookEventMessage): EventTurn {
    const key = eventKey(event.account_id, event.id);
    const earlier = this.eventTurns.get(key);
    let resolve!: () => void;
    const mine = new Promise<void>((done) => (resolve = done));
    this.eventTurns.set(key, mine);
    const over = () => {
      if (this.eventTurns.get(key) === mine) this.eventTurns.delete(key);
      resolve();
    };
    return {
      earlier,
      done: () => (earlier === undefined ? over() : void earlier.then(over)),
    };
  }

  /**
   * Whether the event may wait in memory to be sent before it is stored ('send first'), or is
   * stored first ('store first'): past its account's share at once; at the bounds of all
   * accounts once SEND_FIRST_ROOM_WAIT_MS went by without room for it (and when no room at all
   * was freed meanwhile, the events held are stuck: see `sendFirstCongested`). 'give up': a
   * rebalance or a shutdown came while it waited.
   */
  private async roomToSendFirst(
    account: string,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<'send first' | 'store first' | 'give up'> {
    const held = this.sendFirstHeld;
    const bytes = message.value?.length ?? 0;
    const deadline = Date.now() + SEND_FIRST_ROOM_WAIT_MS;
    let freedMeanwhile = false;
    for (;;) {
      if ((held.perAccount.get(account) ?? 0) >= MAX_SEND_FIRST_PER_ACCOUNT) return 'store first';
      if (held.events < MAX_SEND_FIRST_EVENTS && held.bytes + bytes <= MAX_SEND_FIRST_BYTES) {
        return 'send first';
      }
      if (this.stopping || this.assignment.changing) return 'give up';
      if (this.sendFirstCongested) return 'store first';
      const left = deadline - Date.now();
      const freed =
        left > 0 &&
        (await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), left);
          this.sendFirstRoomFreed.push(() => {
            clearTimeout(timer);
            resolve(true);
          });
        }));
      // A rebalance holds the lanes, which then free nothing: not a sign of stuck events.
      if (this.stopping || this.assignment.changing) return 'give up';
      if (!freed) {
        if (!freedMeanwhile) {
          this.logger.warn(
            `No room freed for ${SEND_FIRST_ROOM_WAIT_MS} ms among ${held.events} events held ` +
              'to send first: new events are stored first until a quarter of it is free',
          );
          this.sendFirstCongested = true;
        }
        return 'store first';
      }
      freedMeanwhile = true;
      try {
        await heartbeat();
      } catch (error) {
        if (isRebalance(error)) return 'give up';
      }
    }
  }

  /** Some send-first room was released: wakes the handlers waiting for it. */
  private sendFirstRoomReleased(): void {
    const held = this.sendFirstHeld;
    if (
      this.sendFirstCongested &&
      held.events <= (MAX_SEND_FIRST_EVENTS * 3) / 4 &&
      held.bytes <= (MAX_SEND_FIRST_BYTES * 3) / 4
    ) {
      this.sendFirstCongested = false;
      this.logger.log('Room freed: new events are sent before they are stored again');
    }
    const waiting = this.sendFirstRoomFreed;
    if (waiting.length === 0) return;
    this.sendFirstRoomFreed = [];
    for (const wake of waiting) wake();
  }

  /**
   * Queues the event in its account's lane to be sent before it is stored. Whether it is
   * stored already, and the webhook change counter, are looked up at once (after the message
   * was read: a webhook disabled before the event was published is never sent to it), shared
   * with the messages arriving meanwhile; the lane usually finds the answer there.
   */
  private queueToSendFirst(
    ref: MessageRef,
    read: KafkaMessage,
    event: WebhookEventMessage,
    turn: EventTurn,
  ) {
    const account = event.account_id;
    // Its own copy: kafkajs's message shares the whole fetch response's buffer.
    const message = detached(read);
    const bytes = message.value?.length ?? 0;
    const held = this.sendFirstHeld;
    held.events += 1;
    held.bytes += bytes;
    held.perAccount.set(account, (held.perAccount.get(account) ?? 0) + 1);
    let freed = false;
    const free = () => {
      if (freed) return;
      freed = true;
      held.events -= 1;
      held.bytes -= bytes;
      const left = (held.perAccount.get(account) ?? 1) - 1;
      if (left === 0) held.perAccount.delete(account);
      else held.perAccount.set(account, left);
      this.sendFirstRoomReleased();
    };
    // The entry is done (its outcomes stored, or its lane through with it): its memory and its
    // turn go.
    const release = () => {
      free();
      turn.done();
    };
    const looked = this.lookAfterHandOver(event);
    const entry: LaneEntry = { ref, stored: undefined, claimedAhead: null };
    // No closure made here holds the event or its message: only `waiting.value` does.
    const waiting: WaitingUnstored = { timer: null, storing: null, value: { event, message } };
    waiting.timer = setTimeout(
      () => this.storeAfterWaiting(ref, waiting, free),
      MAX_UNSTORED_WAIT_MS,
    );
    const previous = this.laneTails.get(account);
    if (previous !== undefined) previous.next = entry;
    this.laneTails.set(account, entry);
    this.pool.submit(account, async () => {
      if (waiting.timer !== null) clearTimeout(waiting.timer);
      waiting.timer = null;
      let handedOn = false;
      try {
        handedOn = await this.sendFirstInLane(entry, looked, release, {
          waiting,
          earlier: turn.earlier,
        });
      } finally {
        if (!handedOn) release();
        if (this.laneTails.get(account) === entry) this.laneTails.delete(account);
      }
    });
  }

  /**
   * Whether the event is stored already, and its account's change counter: looked up at
   * once, or after the hand-over grace when the group was just joined.
   */
  private lookAfterHandOver(event: WebhookEventMessage): Promise<Look> {
    const grace = this.assignment.joinedAt + HANDOVER_GRACE_MS - Date.now();
    const looked = (grace > 0 ? sleep(grace) : Promise.resolve()).then(() =>
      this.sendFirst.look(event),
    );
    // Read by the lane; a lane that never gets to it must not leave it unhandled.
    looked.catch(() => undefined);
    return looked;
  }

  /**
   * The event waited MAX_UNSTORED_WAIT_MS for its lane: stored now, and its lane takes the
   * stored way. Once stored its value leaves memory (the lane needs only the rows), and its
   * room (`free`) goes to another event.
   */
  private storeAfterWaiting(ref: MessageRef, waiting: WaitingUnstored, free: () => void): void {
    waiting.timer = null;
    if (waiting.value === null) return;
    const { event, message } = waiting.value;
    waiting.storing = this.store(event, ref, message, null);
    const stored = () => {
      waiting.value = null;
      free();
    };
    waiting.storing.then(stored, stored);
  }

  /**
   * In the account's lane: the event's first attempts, sent before it is stored when it can
   * be (else stored first, as without DELIVERY_SEND_FIRST; or it was stored while it waited
   * too long). True when the memory it holds is released later, once its outcomes are stored
   * (`release` was handed on).
   */
  private async sendFirstInLane(
    entry: LaneEntry,
    looked: Promise<Look>,
    release: () => void,
    { waiting, earlier }: { waiting: WaitingUnstored; earlier: Promise<void> | undefined },
  ): Promise<boolean> {
    const { ref } = entry;
    if (earlier !== undefined) await earlier;
    await this.assignment.settled();
    if (!this.owns(ref)) return false;
    this.metrics.eventAccepted();
    try {
      if (waiting.storing !== null || waiting.value === null) {
        if (waiting.storing !== null) await this.attemptStored(entry, waiting.storing);
        return false;
      }
      const { event, message } = waiting.value;
      let unstored: UnstoredEvent | null = null;
      try {
        const look = await looked;
        // Read twice: its look may predate the first reading's outcomes.
        if (!look.stored && earlier === undefined) {
          unstored = await this.sendFirst.prepare(event, sourceOf(ref, message), look.version);
        }
      } catch (error) {
        this.noteDatabaseFailure(`looking up event ${event.id} (${describe(ref)})`, error);
      }
      // Read again (stored already), Postgres failing, or a rate-limited webhook (its token
      // is taken by a stored delivery's attempt): the stored way.
      if (
        unstored === null ||
        unstored.webhooks.some((webhook) => webhook.rateLimitPerS !== null)
      ) {
        await this.storeThenAttempt(entry, event, message);
        return false;
      }
      return await this.sendUnstored(entry, unstored, message, release);
    } finally {
      this.metrics.eventFinished();
    }
  }

  /** The stored way for one event: store it, then its first attempts from their rows. */
  private storeThenAttempt(
    entry: LaneEntry,
    event: WebhookEventMessage,
    message: KafkaMessage,
  ): Promise<void> {
    return this.attemptStored(entry, this.store(event, entry.ref, message, null));
  }

  /** Once the event is stored, its first attempts from their rows (while it is this worker's). */
  private async attemptStored(
    entry: LaneEntry,
    storing: Promise<StoredDeliveries | null>,
  ): Promise<void> {
    await this.assignment.settled();
    const stored = await storing;
    entry.stored = stored;
    if (stored === null || !this.owns(entry.ref)) return;
    if (await this.attemptInLane(stored, entry.ref, this.nextInLane(entry))) this.finish(entry.ref);
  }

  /**
   * Sends the event's first attempts in order, each to its webhook as it is now, then hands
   * the outcomes to the statement that stores the event with them and returns without
   * waiting for it (true: `release` is called once it is stored, and the message finished).
   * Stopped part way (a rebalance, a shutdown, the group silent), it stores what it has, the
   * rest as waiting rows, and goes on with those the stored way while the event is its own
   * (false: its lane is through with it).
   */
  private async sendUnstored(
    entry: LaneEntry,
    unstored: UnstoredEvent,
    message: KafkaMessage,
    release: () => void,
  ): Promise<boolean> {
    const { ref } = entry;
    // Without rows, nothing in Postgres keeps two members from sending the same account's
    // events at once: each attempt needs the partition, the group settled and heard from.
    const safe = () => this.owns(ref) && !this.assignment.changing && this.assignment.heard;
    let stopped = false;
    this.sendingUnstored.add(unstored);
    try {
      for (const delivery of unstored.deliveries) {
        let webhook: LiveWebhook | null = null;
        if (safe()) {
          try {
            webhook = await this.sendFirst.current(unstored, delivery.webhookId);
          } catch (error) {
            this.noteDatabaseFailure(`reading the webhooks of ${describe(ref)}`, error);
          }
        }
        // Stopped; or Postgres failing; or a rate limit set meanwhile (a token is taken only
        // on the stored way): the rest waits as stored rows.
        if (
          !safe() ||
          (webhook === null && this.databaseTrouble) ||
          (webhook !== null && webhook.rateLimitPerS !== null)
        ) {
          stopped = true;
          break;
        }
        if (webhook === null) {
          // Disabled, deleted or unsubscribed since the event arrived: no delivery.
          unstored.gone.add(delivery.id);
          continue;
        }
        unstored.current = delivery;
        try {
          delivery.outcome = await this.sendFirst.send(
            unstored,
            delivery,
            webhook,
            this.slots.send,
          );
        } catch (error) {
          // Not expected (a failed request is an outcome): it waits as a stored row instead.
          this.logger.error(`First attempt of ${describe(ref)} failed: ${String(error)}`);
          stopped = true;
          break;
        } finally {
          unstored.current = null;
        }
        if (unstored.storedEarly !== null && (await unstored.storedEarly)) {
          // The rows were stored while it was under way, this one claimed: its outcome
          // replaces the claim (see storeUnderWayEarly).
          const recordedAlone = await this.recordFirst(unstored, [delivery]).catch(
            (error: unknown) => this.refusedByDatabase(ref, message, unstored, error),
          );
          // Refused (dead-lettered, finished) or given up (shutting down): nothing more here.
          if (!recordedAlone) return false;
          stopped = true;
          break;
        }
      }
    } finally {
      this.sendingUnstored.delete(unstored);
    }
    const deliveries = unstored.deliveries.filter((delivery) => !unstored.gone.has(delivery.id));
    if (!stopped) {
      void this.recordFirst(unstored, deliveries)
        .then(
          (stored) => {
            if (!stored) return;
            this.metrics.eventSentBeforeStored();
            this.finish(ref);
          },
          (error: unknown) => this.refusedByDatabase(ref, message, unstored, error),
        )
        .finally(release);
      return true;
    }
    const recorded =
      unstored.storedEarly !== null && (await unstored.storedEarly)
        ? true
        : await this.recordFirst(unstored, deliveries).catch((error: unknown) =>
            this.refusedByDatabase(ref, message, unstored, error),
          );
    if (!recorded || !this.owns(ref)) return false;
    // What waits now, as stored (a row stored meanwhile by another worker keeps its own id).
    let waiting: string[] | null = null;
    for (let failures = 0; waiting === null; failures += 1) {
      try {
        waiting = await this.sendFirst.awaiting(unstored.event);
      } catch (error) {
        this.noteDatabaseFailure(`reading the waiting deliveries of ${describe(ref)}`, error);
        await sleep(backoff(failures));
        if (!this.owns(ref)) return false;
      }
    }
    const rest: StoredDeliveries = { deliveryIds: waiting, held: null };
    if (await this.attemptInLane(rest, ref, this.nextInLane(entry))) this.finish(ref);
    return false;
  }

  /** Stores the event with these deliveries; false when it gave up (shutting down). */
  private recordFirst(unstored: UnstoredEvent, deliveries: UnstoredEvent['deliveries']) {
    return this.sendFirst.record(
      unstored.event,
      deliveries,
      () => !this.stopping,
      (error) => this.noteDatabaseFailure(`storing event ${unstored.event.id}`, error),
    );
  }

  /**
   * Postgres refused the event for good after its first attempts went out: the message goes
   * to the dead-letter topic (tried again while it fails), where the operator sees it, and
   * its offset moves on.
   */
  private async refusedByDatabase(
    ref: MessageRef,
    message: KafkaMessage,
    unstored: UnstoredEvent,
    error: unknown,
  ): Promise<false> {
    const reason = `refused by the database after its first attempts: ${String(error)}`;
    this.logger.error(`Event ${unstored.event.id} (${describe(ref)}) ${reason}`);
    // Until the dead-letter topic takes it (else its offset would hold the partition's back).
    for (let failures = 0; this.owns(ref); failures += 1) {
      if (await this.sendToDeadLetter(ref, message, 'refused_by_database', reason)) {
        this.finish(ref);
        break;
      }
      await sleep(backoff(failures));
    }
    return false;
  }

  /**
   * A rebalance began: the events whose attempt is under way before their rows exist are
   * stored now, that attempt claimed, the rest waiting. The partition's next owner reads the
   * message again, finds it stored, and waits for the attempt under way instead of making it
   * a second time (it looks after HANDOVER_GRACE_MS).
   */
  private storeUnderWayEarly(): void {
    for (const unstored of this.sendingUnstored) {
      if (unstored.current !== null && unstored.storedEarly === null) {
        void this.sendFirst.storeEarly(unstored);
      }
    }
  }

  /**
   * The event after `entry` in the account's lane, as the delivery to claim with the outcome
   * of `entry`'s last first attempt: only when that event is stored, still this worker's, its
   * first delivery not claimed yet, and its lane will start on it at once (no other lane is
   * waiting for a turn: a claim waiting long could outlive its lease).
   */
  private nextInLane(entry: LaneEntry): NextInLane {
    let following: LaneEntry | undefined;
    return {
      deliveryId: () => {
        following = entry.next;
        const stored = following?.stored;
        if (
          following === undefined ||
          !stored ||
          stored.held !== null ||
          following.claimedAhead !== null ||
          !this.owns(entry.ref) ||
          !this.owns(following.ref) ||
          this.assignment.changing ||
          this.pool.waiting > 0
        ) {
          return null;
        }
        return stored.deliveryIds[0] ?? null;
      },
      take: (held) => {
        if (following !== undefined && following.claimedAhead === null) {
          following.claimedAhead = held;
        } else {
          void this.deliverEvent.giveBack(held);
        }
      },
    };
  }

  /**
   * Stores the event, retrying while Postgres fails. Null when there is nothing (more) to
   * attempt: the partition was taken away, or the database refused the event for good and it
   * went to the dead-letter topic.
   */
  private async store(
    event: WebhookEventMessage,
    ref: MessageRef,
    message: KafkaMessage,
    claimToken: string | null,
  ): Promise<StoredDeliveries | null> {
    const bytes = message.value?.length ?? 0;
    this.unstored += 1;
    this.unstoredBytes += bytes;
    let uncertain = false;
    try {
      for (let failures = 0; this.owns(ref); failures += 1) {
        try {
          return await this.deliverEvent.store(event, sourceOf(ref, message), claimToken);
        } catch (error) {
          if (isPermanentDataError(error)) {
            const reason = `refused by the database: ${String(error)}`;
            if (await this.sendToDeadLetter(ref, message, 'refused_by_database', reason)) {
              if (uncertain && claimToken !== null) {
                await this.deliverEvent.releaseStoreClaim(claimToken).catch(() => undefined);
              }
              this.finish(ref);
              return null;
            }
          } else {
            this.noteDatabaseFailure(`storing event ${event.id} (${describe(ref)})`, error);
            uncertain = true;
          }
          await sleep(backoff(failures));
        }
      }
      // Stopped without knowing whether a failed try committed: give back what it may have
      // claimed, so the partition's next owner does not wait out its lease (best effort).
      if (uncertain && claimToken !== null) {
        await this.deliverEvent.releaseStoreClaim(claimToken).catch(() => undefined);
      }
      return null;
    } finally {
      this.unstored -= 1;
      this.unstoredBytes -= bytes;
    }
  }

  /** In the account's lane: once the event is stored, make its first attempts, finish its offset. */
  private async runInLane(
    entry: LaneEntry,
    storing: Promise<StoredDeliveries | null>,
    after: NextInLane,
  ): Promise<void> {
    const { ref } = entry;
    await this.assignment.settled();
    if (!this.owns(ref)) {
      // Not this worker's any more: a claim the store made goes back at once.
      const stored = await storing;
      for (const held of [stored?.held ?? null, takeClaimedAhead(entry)]) {
        if (held !== null) await this.deliverEvent.giveBack(held);
      }
      return;
    }
    this.metrics.eventAccepted();
    try {
      const stored = await storing;
      const claimedAhead = takeClaimedAhead(entry);
      if (stored === null) {
        if (claimedAhead !== null) await this.deliverEvent.giveBack(claimedAhead);
        return;
      }
      const first = claimedAhead === null ? stored : { ...stored, held: claimedAhead };
      if (await this.attemptInLane(first, ref, after)) this.finish(ref);
    } finally {
      this.metrics.eventFinished();
    }
  }

  /**
   * First attempts in order, retrying while Postgres fails and waiting while the group
   * rebalances; false once the event is no longer this worker's (its next owner reads it again).
   */
  private async attemptInLane(
    stored: StoredDeliveries,
    ref: MessageRef,
    after: NextInLane,
  ): Promise<boolean> {
    const stillOwned = () => this.owns(ref) && !this.assignment.changing;
    // The store's claim serves the first try only: after a failure, claims are made afresh.
    let next = stored;
    try {
      for (let failures = 0; this.owns(ref);) {
        if (this.assignment.changing) {
          // Most rebalances end with the partition read again (the token goes stale); should
          // the hold end otherwise, the same event goes on where it stopped.
          await this.assignment.settled();
          continue;
        }
        try {
          // Deliveries attempted before an interruption are not pending any more: skipped.
          const tried = next;
          next = { deliveryIds: stored.deliveryIds, held: null };
          if (await this.deliverEvent.attemptInOrder(tried, stillOwned, this.slots, after)) {
            return true;
          }
        } catch (error) {
          this.noteDatabaseFailure(`first attempts of ${describe(ref)}`, error);
          await sleep(backoff(failures));
          failures += 1;
        }
      }
      return false;
    } finally {
      // Stopped before its first try (a rebalance, a shutdown): the store's claim goes back,
      // so whoever reads the message again need not wait its lease out.
      if (next.held !== null) await this.deliverEvent.giveBack(next.held);
    }
  }

  /**
   * Sets a message that is not an event aside on the dead-letter topic, then moves past it.
   * While that topic cannot be written, waits (heartbeating) rather than skip the message.
   */
  private async deadLetter(
    ref: MessageRef,
    message: KafkaMessage,
    code: string,
    reason: string,
    heartbeat: () => Promise<void>,
  ): Promise<void> {
    this.logger.warn(`Dead-lettering the message at ${describe(ref)}: ${reason}`);
    const sent = () => this.sendToDeadLetter(ref, message, code, reason);
    if (await this.waitFor(sent, heartbeat)) this.finish(ref);
  }

  private async sendToDeadLetter(
    ref: MessageRef,
    message: KafkaMessage,
    code: string,
    reason: string,
  ): Promise<boolean> {
    try {
      await this.deadLetters.send(
        { topic: ref.topic, partition: ref.partition, message },
        code,
        reason,
      );
      this.metrics.invalidMessage(code);
      return true;
    } catch (error) {
      this.logger.error(
        `Writing ${describe(ref)} to the dead-letter topic failed: ${String(error)}`,
      );
      return false;
    }
  }

  /**
   * Waits inside the message handler until `ready()` says so, heartbeating so that the group
   * does not evict this member meanwhile. False when it gave up: shutdown, or a rebalance
   * (the message is then read again from the last commit by its partition's next owner).
   */
  private async waitFor(
    ready: () => Promise<boolean>,
    heartbeat: () => Promise<void>,
  ): Promise<boolean> {
    for (let failures = 0; ; failures += 1) {
      // Bounded, so that heartbeats go out even while a dependency hangs instead of failing.
      if (await withDeadline(ready(), READY_DEADLINE_MS, 'dependency check').catch(() => false)) {
        return true;
      }
      // The pause is cut into slices with a heartbeat before each (kafkajs sends at most one
      // per heartbeatInterval), so that a rebalance is heard within a second, not after a
      // 5 s backoff: the whole group waits for this member to rejoin.
      const pause = backoff(failures);
      for (let waited = 0; waited < pause; waited += HEARTBEAT_WHILE_WAITING_MS) {
        if (this.stopping || this.assignment.changing) return false;
        try {
          await heartbeat();
        } catch (error) {
          if (isRebalance(error)) return false;
        }
        await sleep(Math.min(HEARTBEAT_WHILE_WAITING_MS, pause - waited));
      }
    }
  }

  private noteDatabaseFailure(what: string, error: unknown): void {
    if (!this.databaseTrouble) {
      this.logger.error(`Postgres failed while ${what}; pausing new messages: ${String(error)}`);
    }
    this.databaseTrouble = true;
  }

  private async databaseAnswers(): Promise<boolean> {
    try {
      await this.deliverEvent.databaseReady();
      if (this.databaseTrouble) this.logger.log('Postgres answers again; reading on');
      this.databaseTrouble = false;
      return true;
    } catch {
      return false;
    }
  }

  /** The message is still this worker's to finish: not shutting down, partition not reassigned. */
  private owns(ref: MessageRef): boolean {
    return !this.stopping && ref.offsets.isCurrent(ref.token);
  }

  private finish(ref: MessageRef): void {
    ref.offsets.finish(BigInt(ref.offset), ref.token);
    this.scheduleCommit();
  }

  /**
   * A rebalance happened: every partition is read again from its last commit (by this worker
   * or another), so all work in memory is dropped: queued lane tasks find themselves stale and
   * return at once, and attempts under way finish but commit nothing.
   */
  private forgetAllWork(): void {
    for (const offsets of this.partitions.values()) offsets.reset();
  }

  /** Drains accepted work and commits before the Kafka consumer disconnects. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.assignment.stop();
    // Handlers waiting for send-first room give up at once (nothing new starts).
    this.sendFirstRoomReleased();
    this.logger.log(`Draining ${this.pool.size} in-flight events before shutdown`);
    await this.pool.onIdle();
    // Outcomes of first attempts sent before their rows, on their way into Postgres.
    await this.sendFirst.recorded();
    await this.commitNow();
    // Claims on their way back (given back while their lanes waited) land before the
    // database pool closes, so the events' next owners need not wait their leases out.
    await this.deliverEvent.claimsGivenBack();
    // Once more if the broker did not confirm (the partitions' next owner would redo the work).
    await this.commitNow();
  }

  private partitionOffsets(partition: number): PartitionOffsets {
    let offsets = this.partitions.get(partition);
    if (!offsets) {
      offsets = new PartitionOffsets();
      this.partitions.set(partition, offsets);
    }
    return offsets;
  }

  private scheduleCommit(): void {
    if (this.commitTimer !== null) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      void this.commitNow();
    }, COMMIT_INTERVAL_MS);
  }

  /** Commits every partition that moved; commits never overlap. */
  private commitNow(): Promise<void> {
    this.commitInFlight = this.commitInFlight.then(() => this.commitOnce());
    return this.commitInFlight;
  }

  private async commitOnce(): Promise<void> {
    const consumer = this.assignment.consumer;
    if (consumer === null) return;
    const ready = [...this.partitions.entries()]
      .map(([partition, offsets]) => ({ partition, next: offsets.committable() }))
      .filter((entry): entry is { partition: number; next: bigint } => entry.next !== null);
    if (ready.length === 0) return;
    try {
      // Marked committed only when the broker confirms (AssignmentWatch hears kafkajs's
      // COMMIT_OFFSETS event): kafkajs silently skips a commit while its runner is stopped.
      await consumer.commitOffsets(
        ready.map(({ partition, next }) => ({
          topic: this.topic,
          partition,
          offset: next.toString(),
        })),
      );
    } catch (error) {
      // Typically a rebalance: the partition's new owner reads from the last commit.
      this.logger.warn(`Offset commit failed, will retry: ${String(error)}`);
    }
    const unconfirmed = ready.some(
      ({ partition, next }) => this.partitions.get(partition)?.committable() === next,
    );
    if (unconfirmed && !this.stopping) this.scheduleCommit();
  }
}

/** An event's place among its entries in lanes: the one before it, and its own end. */
interface EventTurn {
  earlier: Promise<void> | undefined;
  done(): void;
}

/** An event to send first that waited too long for its lane is stored instead (`storing`). */
interface WaitingUnstored {
  timer: NodeJS.Timeout | null;
  storing: Promise<StoredDeliveries | null> | null;
  /** The event and its message; null once stored after waiting too long. */
  value: { event: WebhookEventMessage; message: KafkaMessage } | null;
}

/** The claim made ahead for the entry, now its lane's to use or give back. */
function takeClaimedAhead(entry: LaneEntry): HeldClaim | null {
  const held = entry.claimedAhead;
  entry.claimedAhead = null;
  return held;
}

function sourceOf(ref: MessageRef, message: KafkaMessage): EventSource {
  return { partition: ref.partition, offset: ref.offset, bytes: message.value?.length ?? 0 };
}

/** The message with buffers of its own (kafkajs's are slices of the whole fetch response). */
function detached(message: KafkaMessage): KafkaMessage {
  const copy = (buffer: Buffer | null) => (buffer === null ? null : Buffer.from(buffer));
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    headers[name] = Array.isArray(value)
      ? value.map((item) => (typeof item === 'string' ? item : Buffer.from(item)))
      : value === undefined || typeof value === 'string'
        ? value
        : Buffer.from(value);
  }
  return Object.assign({}, message, {
    key: copy(message.key ?? null),
    value: copy(message.value),
    headers,
  });
}

function eventKey(accountId: string, eventId: string): string {
  return JSON.stringify([accountId, eventId]);
}

function describe(ref: MessageRef): string {
  return `${ref.topic}[${ref.partition}]@${ref.offset}`;
}

function backoff(failures: number): number {
  return FAILURE_BACKOFF_MS[Math.min(failures, FAILURE_BACKOFF_MS.length - 1)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** kafkajs's signs that the group is rebalancing and this member must rejoin. */
function isRebalance(error: unknown): boolean {
  const type: unknown =
    typeof error === 'object' && error !== null ? Reflect.get(error, 'type') : undefined;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID' ||
    type === 'NOT_COORDINATOR_FOR_GROUP'
  );
}
