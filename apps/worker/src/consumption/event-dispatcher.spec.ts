import { loadConfig } from '@libs/config';
import { SAMPLE_ENVIRONMENT } from '@libs/testing';
import { DeliverEventUseCase, FirstAttemptSlots, SendFirstUseCase } from '@libs/delivery';
import { WorkerMetrics } from '../metrics/worker-metrics';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { EventDispatcher } from './event-dispatcher';

const config = loadConfig({ ...SAMPLE_ENVIRONMENT });

/**
 * The handler's wait for a failing dependency (or for room, under back-pressure), on fake
 * timers: only its heartbeating is exercised, so the collaborators are never called.
 */
describe('a message handler waiting for a dependency', () => {
  const unused = <T>() => ({}) as T;
  let dispatcher: EventDispatcher;

  beforeEach(() => {
    jest.useFakeTimers();
    dispatcher = new EventDispatcher(
      config,
      unused<DeliverEventUseCase>(),
      unused<SendFirstUseCase>(),
      unused<DeadLetterPublisher>(),
      unused<WorkerMetrics>(),
      unused<FirstAttemptSlots>(),
    );
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
