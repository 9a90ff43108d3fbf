import { DataSource, Logger as TypeOrmLogger } from 'typeorm';
import { IsolatedDatabase, createIsolatedDatabase } from '@libs/testing';
import { dataSourceOptions } from '../data-source';
import { DeliveryEntity, EventEntity } from '../entities';
import { DeliveryFilters, DeliveryHistoryRepository } from './delivery-history.repository';

/** Keeps the SQL the repository sends, to EXPLAIN it afterwards. */
class CapturingLogger implements TypeOrmLogger {
  last: { query: string; parameters: unknown[] } | null = null;
  logQuery(query: string, parameters?: unknown[]): void {
    if (query.trimStart().startsWith('SELECT')) this.last = { query, parameters: parameters ?? [] };
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

const ACCOUNTS = 20;
const WEBHOOKS_PER_ACCOUNT = 5;
const EVENTS_PER_ACCOUNT = 3_000;

/**
 * The history filters on a table of the size a busy account reaches (300,000 deliveries):
 * each must be read as a range of one index, newest first, never by scanning the table.
 */
describe('delivery history query plans on 300,000 deliveries', () => {
  let database: IsolatedDatabase;
  let dataSource: DataSource;
  let history: DeliveryHistoryRepository;
  const logger = new CapturingLogger();
  let sample: { account_id: string; webhook_id: string; event_id: string };

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    dataSource = await new DataSource({
      ...dataSourceOptions(database.url, 2),
      logging: ['query'],
      logger,
    }).initialize();
    history = new DeliveryHistoryRepository(
      dataSource.getRepository(DeliveryEntity),
      dataSource.getRepository(EventEntity),
    );
    await dataSource.query(
      `INSERT INTO webhooks (id, account_id, url, event_types, headers, secret, enabled)
       SELECT gen_random_uuid(), 'plan-' || a, 'https://example.com/' || w, '{*}', '{}', 'whsec_x', true
       FROM generate_series(1, $1) a, generate_series(1, $2) w`,
      [ACCOUNTS, WEBHOOKS_PER_ACCOUNT],
    );
    await dataSource.query(
      `INSERT INTO events (id, account_id, type, body, occurred_at)
       SELECT 'evt-' || e, 'plan-' || a, 'type.' || (e % 7), '{}', now()
       FROM generate_series(1, $1) a, generate_series(1, $2) e`,
      [ACCOUNTS, EVENTS_PER_ACCOUNT],
    );
    await dataSource.query(
      `INSERT INTO deliveries (id, event_id, webhook_id, account_id, event_type, status, created_at)
       SELECT gen_random_uuid(), e.id, w.id, e.account_id, e.type,
              (ARRAY['succeeded', 'succeeded', 'succeeded', 'retrying', 'failed'])[1 + (abs(hashtext(e.id || w.id::text)) % 5)],
              now() - (random() * interval '30 days')
       FROM events e JOIN webhooks w ON w.account_id = e.account_id`,
    );
    await dataSource.query('ANALYZE');
    const [row] = await dataSource.query(
      `SELECT account_id, webhook_id, event_id FROM deliveries LIMIT 1`,
    );
    sample = row;
  }, 240_000);

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  const planOf = async (filters: DeliveryFilters): Promise<string> => {
    logger.last = null;
    await history.list(filters, 50);
    const listed = logger.last as { query: string; parameters: unknown[] } | null;
    if (listed === null) throw new Error('the history query was not captured');
    const rows: { 'QUERY PLAN': string }[] = await dataSource.query(
      `EXPLAIN ${listed.query}`,
      listed.parameters,
    );
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  };

  const week = () => ({ since: new Date(Date.now() - 7 * 86_400_000), until: new Date() });
  const cases: [string, () => DeliveryFilters][] = [
    ['everything (admin)', () => ({})],
    ['an account', () => ({ accountId: sample.account_id })],
    ['an account in a time window', () => ({ accountId: sample.account_id, ...week() })],
    ['an account and a status', () => ({ accountId: sample.account_id, status: 'retrying' })],
    ['an account and an event type', () => ({ accountId: sample.account_id, eventType: 'type.3' })],
    ['a webhook', () => ({ webhookId: sample.webhook_id })],
    ['a webhook in a time window', () => ({ webhookId: sample.webhook_id, ...week() })],
    ['a status (admin)', () => ({ status: 'failed' })],
    ['an event type (admin)', () => ({ eventType: 'type.5' })],
  ];

  it.each(cases)('reads %s as an index range in page order', async (_name, filters) => {
    const plan = await planOf(filters());
    expect(plan).toMatch(/Index Scan using deliveries_\w+ on deliveries/);
    expect(plan).not.toMatch(/Seq Scan|Sort/);
  });

  it("reads an event's deliveries as an index range (the few found are then sorted)", async () => {
    const plan = await planOf({ accountId: sample.account_id, eventId: sample.event_id });
    expect(plan).toMatch(/Index Scan on deliveries_event_webhook_key/);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
