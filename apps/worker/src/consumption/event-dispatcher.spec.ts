import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { KafkaMessage } from 'kafkajs';
import { loadConfig } from '@libs/config';
import { WebhookEventMessage } from '@libs/contracts';
import { SAMPLE_ENVIRONMENT } from '@libs/testing';
import { DeliverEventUseCase, FirstAttemptSlots, SendFirstUseCase } from '@libs/delivery';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { KeyedWorkPool } from './keyed-work-pool';
import { PartitionOffsets } from './partition-offsets';
import {
  EventDispatcher,
  MAX_SEND_FIRST_EVENTS,
  MAX_SEND_FIRST_PER_ACCOUNT,
} from './event-dispatcher';

const config = loadConfig({ ...SAMPLE_ENVIRONMENT });

/**
 * A dispatcher whose collaborators are these fakes, and empty objects where a test never
 * reaches them.
 */
function dispatcherWith(fakes: { deliverEvent?: object; metrics?: object }): EventDispatcher {
  return new EventDispatcher(
    config,
    (fakes.deliverEvent ?? {}) as DeliverEventUseCase,
    {} as SendFirstUseCase,
    {} as DeadLetterPublisher,
    (fakes.metrics ?? {}) as WorkerMetrics,
    {} as FirstAttemptSlots,
  );
}

/**
 * The handler's wait for a failing dependency (or for room, under back-pressure), on fake
 * timers: only its heartbeating is exercised, so the collaborators are never called.
 */
describe('a message handler waiting for a dependency', () => {
  let dispatcher: EventDispatcher;

  beforeEach(() => {
    jest.useFakeTimers();
    dispatcher = dispatcherWith({});
  });

  afterEach(() => jest.useRealTimers());

  it('heartbeats at least every second through its growing backoff, and stops at a rebalance', async () => {
    const beats: number[] = [];
    const heartbeat = async () => {
      beats.push(Date.now());
      // The group starts rebalancing once the backoff has grown past a second.
      if (beats.length === 8) {
        throw Object.assign(new Error('The group is rebalancing'), {
          type: 'REBALANCE_IN_PROGRESS',
        });
      }
    };
    const waiting = dispatcher['waitFor'](async () => false, heartbeat);
    await jest.advanceTimersByTimeAsync(30_000);
    // Gave up: the message is read again by its partition's next owner.
    await expect(waiting).resolves.toBe(false);
    expect(beats).toHaveLength(8);
    const gaps = beats.slice(1).map((at, index) => at - beats[index]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1000);
  });

  it('returns as soon as the dependency is ready', async () => {
    let checks = 0;
    const waiting = dispatcher['waitFor'](
      async () => (checks += 1) === 3,
      async () => undefined,
    );
    await jest.advanceTimersByTimeAsync(30_000);
    await expect(waiting).resolves.toBe(true);
    expect(checks).toBe(3);
  });
});

/**
 * Room for events sent before they are stored (DELIVERY_SEND_FIRST), on fake timers: the
 * bounds' bookkeeping is driven by hand, as the lanes would release it.
 */
describe('room for events sent before they are stored', () => {
  const message = { value: Buffer.from('{}') } as KafkaMessage;
  let beat: () => Promise<void>;
  let dispatcher: EventDispatcher;
  let held: { events: number; bytes: number; perAccount: Map<string, number> };
  const roomFor = (account: string) =>
    dispatcher['roomToSendFirst'](account, message, () => beat());
  /** The answer `ms` after asking (fake time), or 'still waiting'. */
  const answerAfter = async <T>(answer: Promise<T>, ms: number) => {
    let settled: T | 'still waiting' = 'still waiting';
    void answer.then((value) => (settled = value));
    await jest.advanceTimersByTimeAsync(ms);
    return settled;
  };
  const release = (events: number) => {
    held.events -= events;
    dispatcher['sendFirstRoomReleased']();
  };

  beforeEach(() => {
    jest.useFakeTimers();
    beat = async () => undefined;
    dispatcher = dispatcherWith({});
    held = dispatcher['sendFirstHeld'];
  });

  afterEach(() => jest.useRealTimers());

  it('makes a full consumer wait for room, then sends first (a backlog waits in Kafka)', async () => {
    held.events = MAX_SEND_FIRST_EVENTS;
    const waiting = roomFor('a');
    await expect(answerAfter(waiting, 500)).resolves.toBe('still waiting');
    release(1);
    await expect(answerAfter(waiting, 0)).resolves.toBe('send first');
  });

  it('stores first past an account share without waiting', async () => {
    held.perAccount.set('a', MAX_SEND_FIRST_PER_ACCOUNT);
    await expect(answerAfter(roomFor('a'), 0)).resolves.toBe('store first');
    await expect(answerAfter(roomFor('b'), 0)).resolves.toBe('send first');
  });

  it('waits a second at most, even while room freed keeps going to others', async () => {
    held.events = MAX_SEND_FIRST_EVENTS;
    const waiting = roomFor('a');
    for (let at = 0; at < 900; at += 300) {
      await jest.advanceTimersByTimeAsync(300);
      // Freed, and taken at once by another partition's handler.
      release(1);
      held.events += 1;
    }
    await expect(answerAfter(waiting, 100)).resolves.toBe('store first');
    // Room was moving: not congested, the next message waits for room again.
    await expect(answerAfter(roomFor('b'), 500)).resolves.toBe('still waiting');
  });

  it('stores first without waiting once no room came for a second, until a quarter is free', async () => {
    held.events = MAX_SEND_FIRST_EVENTS;
    await expect(answerAfter(roomFor('a'), 1000)).resolves.toBe('store first');
    // Congested: a full consumer no longer waits a second per message.
    await expect(answerAfter(roomFor('b'), 0)).resolves.toBe('store first');
    // Room that comes is still used...
    release(1);
    await expect(answerAfter(roomFor('b'), 0)).resolves.toBe('send first');
    held.events += 1;
    await expect(answerAfter(roomFor('c'), 0)).resolves.toBe('store first');
    // ...and a full consumer waits again once a quarter of the room was free.
    release(MAX_SEND_FIRST_EVENTS / 4);
    held.events = MAX_SEND_FIRST_EVENTS;
    const waiting = roomFor('d');
    await expect(answerAfter(waiting, 500)).resolves.toBe('still waiting');
    release(1);
    await expect(answerAfter(waiting, 0)).resolves.toBe('send first');
  });

  it('gives up at a rebalance or a shutdown (the message is read again)', async () => {
    held.events = MAX_SEND_FIRST_EVENTS;
    beat = async () => {
      throw Object.assign(new Error('The group is rebalancing'), {
        type: 'REBALANCE_IN_PROGRESS',
      });
    };
    const rebalanced = roomFor('a');
    await jest.advanceTimersByTimeAsync(100);
    release(0);
    await expect(answerAfter(rebalanced, 0)).resolves.toBe('give up');

    beat = async () => undefined;
    const stopped = roomFor('b');
    await jest.advanceTimersByTimeAsync(100);
    dispatcher['stopping'] = true;
    release(0);
    await expect(answerAfter(stopped, 0)).resolves.toBe('give up');
  });
});

/**
 * What a stored event's lane entry keeps in memory while it waits behind earlier events: only
 * where its message sits and its delivery ids, never kafkajs's message, whose value is a slice
 * of the whole fetch response (up to 4 MB). Checked with a weak reference and a forced
 * garbage collection; the lane task is held, unrun, as behind a hanging receiver.
 */
describe('a stored event waiting in its lane', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  it("does not keep the message's fetch response alive", async () => {
    const lanes: (() => Promise<void>)[] = [];
    const dispatcher = dispatcherWith({
      deliverEvent: { store: async () => ({ deliveryIds: [] }) },
      metrics: { eventDeferred: () => undefined },
    });
    const pool = {
      size: 0,
      startsAtOnce: false,
      heldFor: () => 1,
      submit: (_key: string, task: () => Promise<void>) => lanes.push(task),
    };
    Object.assign(dispatcher, { pool: pool as unknown as KeyedWorkPool });

    const handled = async (): Promise<WeakRef<ArrayBufferLike>> => {
      const event = {
        id: 'e1',
        type: 'user.created',
        account_id: 'a',
        data: {},
        timestamp: '2026-11-28T00:00:00Z',
      };
      const json = Buffer.from(JSON.stringify(event));
      const fetchResponse = Buffer.alloc(4 * 1024 * 1024);
      json.copy(fetchResponse);
      const message = {
        offset: '7',
        value: fetchResponse.subarray(0, json.length),
      } as unknown as KafkaMessage;
      const offsets = new PartitionOffsets();
      const ref = { topic: 't', partition: 0, offset: '7', offsets, token: offsets.begin(7n) };
      await dispatcher['handle'](ref, message, async () => undefined);
      // The memory itself: the value, a view of it, keeps it alive, not the Buffer object.
      return new WeakRef(fetchResponse.buffer);
    };
    const fetchResponse = await handled();
    // The store landed; the lane has not run yet.
    await new Promise((resolve) => setImmediate(resolve));
    expect(lanes).toHaveLength(1);
    gc();
    expect(fetchResponse.deref()).toBeUndefined();
  });
});

describe('the turns of an event read more than once', () => {
  it('stay in order when an entry gives up before the one ahead of it is over', async () => {
    const dispatcher = dispatcherWith({});
    const event = { account_id: 'a', id: 'e1' } as WebhookEventMessage;
    const first = dispatcher['takeTurn'](event);
    // Read again while the first entry's outcomes are on their way; gives up (a rebalance).
    dispatcher['takeTurn'](event).done();
    // Read once more after the rejoin: it must still wait for the first entry.
    const third = dispatcher['takeTurn'](event);
    let thirdGoes = false;
    void third.earlier?.then(() => (thirdGoes = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(third.earlier).toBeDefined();
    expect(thirdGoes).toBe(false);
    first.done();
    await new Promise((resolve) => setImmediate(resolve));
    expect(thirdGoes).toBe(true);
  });
});
