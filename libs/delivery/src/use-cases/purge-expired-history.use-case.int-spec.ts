import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { loadConfig } from '@libs/config';
import { RetentionRepository, dataSourceOptions } from '@libs/persistence';
import { IsolatedDatabase, TEST_ENCRYPTION_KEYS, createIsolatedDatabase } from '@libs/testing';
import { PurgeExpiredHistoryUseCase } from './purge-expired-history.use-case';

describe('retention on a real Postgres', () => {
  let database: IsolatedDatabase;
  let dataSource: DataSource;
  const webhookId = randomUUID();

  /** An event received `ageDays` ago with one delivery and one attempt. */
  const seed = async (ageDays: number): Promise<string> => {
    const eventId = `evt-${randomUUID()}`;
    const deliveryId = randomUUID();
    const receivedAt = new Date(Date.now() - ageDays * 24 * 3600 * 1000);
    await dataSource.query(
      `INSERT INTO events (id, account_id, type, body, occurred_at, received_at)
       VALUES ($1, 'acme', 'user.created', '{}', $2, $2)`,
      [eventId, receivedAt],
    );
    await dataSource.query(
      `INSERT INTO deliveries (id, event_id, webhook_id, account_id, event_type, status, created_at)
       VALUES ($1, $2, $3, 'acme', 'user.created', 'succeeded', $4)`,
      [deliveryId, eventId, webhookId, receivedAt],
    );
    await dataSource.query(
      `INSERT INTO delivery_attempts (id, delivery_id, number, trigger, started_at, duration_ms, response_status)
       VALUES ($1, $2, 1, 'scheduled', $3, 10, 200)`,
      [randomUUID(), deliveryId, receivedAt],
    );
    return eventId;
  };
  const count = async (table: string): Promise<number> =>
    (await dataSource.query(`SELECT count(*)::int AS count FROM ${table}`))[0].count;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    dataSource = await new DataSource(dataSourceOptions(database.url, 2)).initialize();
    await dataSource.query(
      `INSERT INTO webhooks (id, account_id, url, secret) VALUES ($1, 'acme', 'https://example.com', 'whsec_x')`,
      [webhookId],
    );
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('deletes events older than RETENTION_DAYS with their deliveries and attempts, and nothing else', async () => {
    const old = [];
    for (let index = 0; index < 1100; index += 1) old.push(await seed(31 + (index % 5)));
    const recent = [await seed(29), await seed(1), await seed(0)];
    await dataSource.query(
      `INSERT INTO idempotency_keys (account_id, key, event_id, created_at)
       VALUES ('acme', 'old', 'x', now() - interval '25 hours'), ('acme', 'new', 'y', now())`,
    );
    const purge = new PurgeExpiredHistoryUseCase(
      new RetentionRepository(dataSource),
      loadConfig({
        KAFKA_BROKERS: '127.0.0.1:9',
        DATABASE_URL: database.url,
        ADMIN_API_KEY: 'retention-test-admin-key',
        RETENTION_DAYS: '30',
        ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      }),
    );

    const result = await purge.execute();

    expect(result).toEqual({ ran: true, events: old.length, idempotencyKeys: 1 });
    const remaining: { id: string }[] = await dataSource.query(`SELECT id FROM events ORDER BY id`);
    expect(remaining.map((row) => row.id)).toEqual([...recent].sort());
    expect(await count('deliveries')).toBe(recent.length);
    expect(await count('delivery_attempts')).toBe(recent.length);
    expect(await count('idempotency_keys')).toBe(1);
  });

  it('lets one worker purge at a time', async () => {
    const repository = new RetentionRepository(dataSource);
    let inner: boolean | undefined;
    const outer = await repository.withExclusiveLock(async () => {
      inner = await repository.withExclusiveLock(async () => undefined);
    });
    expect(outer).toBe(true);
    expect(inner).toBe(false);
  });
});
