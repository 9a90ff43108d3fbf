import { Counter, Histogram } from 'prom-client';
import { DataSource } from 'typeorm';
import { WebhookEventMessage } from '@libs/contracts';
import { IdempotencyKeyRepository, dataSourceOptions } from '@libs/persistence';
import { IsolatedDatabase, createIsolatedDatabase, uniqueAccountId } from '@libs/testing';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { ApiMetrics } from '../metrics/api-metrics';
import { EventPublisher } from './event-publisher';
import { PublishEventUseCase } from './publish-event.use-case';

/**
 * Stands in for Kafka, the one part that cannot be made to fail on cue for one request while
 * another succeeds: each publish waits until the test settles it.
 */
class ScriptedPublisher implements Pick<EventPublisher, 'publish' | 'unavailableMessage'> {
  readonly unavailableMessage = 'The event could not be written to Kafka; retry later';
  readonly acknowledged: string[] = [];
  private readonly waiting: Array<{ id: string; settle: (ok: boolean) => void }> = [];

  publish(event: WebhookEventMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({
        id: event.id,
        settle: (ok) => {
          if (!ok) return reject(new Error('broker unavailable'));
          this.acknowledged.push(event.id);
          resolve();
        },
      });
    });
  }

  /** Resolves once `count` publishes are waiting. */
  async pending(count: number): Promise<void> {
    while (this.waiting.length < count) await new Promise((r) => setTimeout(r, 5));
  }

  settleNext(ok: boolean): void {
    const next = this.waiting.shift();
    if (!next) throw new Error('no publish is waiting');
    next.settle(ok);
  }
}

function metrics(): ApiMetrics {
  return new ApiMetrics(
    new Counter({ name: 'published', help: 'x', labelNames: ['type'], registers: [] }),
    new Counter({ name: 'publish_errors', help: 'x', registers: [] }),
    new Histogram({
      name: 'duration',
      help: 'x',
      labelNames: ['method', 'route', 'status'],
      registers: [],
    }),
  );
}

describe('PublishEventUseCase: Idempotency-Key under concurrent requests (real Postgres)', () => {
  let database: IsolatedDatabase;
  let dataSource: DataSource;
  const admin = new AccountScope({ kind: 'admin' });

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    dataSource = await new DataSource(dataSourceOptions(database.url, 4)).initialize();
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('keeps one event per key when the first request fails while a second republishes it', async () => {
    const publisher = new ScriptedPublisher();
    const useCase = new PublishEventUseCase(
      publisher,
      new IdempotencyKeyRepository(dataSource),
      metrics(),
    );
    const account = uniqueAccountId('idem');
    const request = () => ({ type: 'user.created', account_id: account, data: { n: 1 } });

    // A claims the key and waits on Kafka; B comes with the same key and republishes A's event.
    const first = useCase.execute(request(), admin, 'key-1');
    await publisher.pending(1);
    const second = useCase.execute(request(), admin, 'key-1');
    await publisher.pending(2);
    publisher.settleNext(false); // A: the broker refused
    publisher.settleNext(true); // B: acknowledged
    await expect(first).rejects.toMatchObject({ code: ApiErrorCode.PublishFailed });
    const acceptedId = await second;
    expect(publisher.acknowledged).toEqual([acceptedId]);

    // A's client retries with its key: the very event B got accepted, never a second one.
    const retry = useCase.execute(request(), admin, 'key-1');
    await publisher.pending(1);
    publisher.settleNext(true);
    expect(await retry).toBe(acceptedId);
    expect(new Set(publisher.acknowledged)).toEqual(new Set([acceptedId]));
  });

  it('answers every one of many concurrent requests with the same key with the same event', async () => {
    const publisher = new ScriptedPublisher();
    const useCase = new PublishEventUseCase(
      publisher,
      new IdempotencyKeyRepository(dataSource),
      metrics(),
    );
    const account = uniqueAccountId('idem');
    const requests = Array.from({ length: 20 }, () =>
      useCase.execute({ type: 'user.created', account_id: account, data: {} }, admin, 'key-2'),
    );
    await publisher.pending(20);
    for (let i = 0; i < 20; i += 1) publisher.settleNext(i % 2 === 0);
    const answers = await Promise.allSettled(requests);
    const accepted = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    const refused = answers.flatMap((a) => (a.status === 'rejected' ? [a.reason] : []));
    expect(accepted.length).toBeGreaterThan(0);
    expect(new Set(accepted).size).toBe(1);
    for (const reason of refused) expect(reason).toBeInstanceOf(ApiError);
    expect(new Set(publisher.acknowledged)).toEqual(new Set(accepted));
  });
});
