import { DataSource } from 'typeorm';
import {
  IsolatedDeliveries,
  openIsolatedDeliveries,
  insertTestWebhook,
  testIncomingEvent,
  uniqueAccountId,
} from '@libs/testing';
import { DeliveryRepository } from './delivery.repository';

interface PlanNode {
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function indexesIn(node: PlanNode): string[] {
  return [
    ...(node['Index Name'] ? [node['Index Name']] : []),
    ...(node.Plans ?? []).flatMap(indexesIn),
  ];
}

/**
 * A lane claims its first attempt by delivery id. With a backlog the statistics lag behind
 * (autovacuum analyses later), and Postgres once chose to find the row through the status
 * indexes instead, reading every pending delivery's index entry on each claim: in a 5,000
 * event backlog, 15 million index entries and half of Postgres's time.
 */
describe.each([
  ['as the api plans (its own choice)', false],
  ['as the worker plans (generic plans)', true],
])(
  'claiming a first attempt on a real Postgres with a backlog and stale statistics, %s',
  (_, genericPlans) => {
    let isolated: IsolatedDeliveries;
    let dataSource: DataSource;
    let deliveries: DeliveryRepository;
    const accountId = uniqueAccountId('plan');

    beforeAll(async () => {
      // One connection: the statement the repository prepares is there to be explained.
      isolated = await openIsolatedDeliveries(1, { genericPlans });
      ({ dataSource, deliveries } = isolated);
      await dataSource.query(`ALTER TABLE deliveries SET (autovacuum_enabled = false)`);
      await insertTestWebhook(dataSource, accountId);
      // Statistics taken while nothing was pending...
      await deliveries.storeEvents(Array.from({ length: 500 }, () => testIncomingEvent(accountId)));
      await dataSource.query(`UPDATE deliveries SET status = 'succeeded'`);
      await dataSource.query(`ANALYZE deliveries`);
      // ...then a backlog arrives.
      for (let batch = 0; batch < 20; batch += 1) {
        await deliveries.storeEvents(
          Array.from({ length: 200 }, () => testIncomingEvent(accountId)),
        );
      }
    }, 60_000);

    afterAll(async () => {
      await isolated?.close();
    });

    /**
     * The indexes in the plan of the prepared claim statement, the one that records outcomes
     * too or the other, run with `values`.
     */
    async function planOf(
      withOutcomes: boolean,
      values: (ids: string) => string,
    ): Promise<string[]> {
      const [{ name }]: { name: string }[] = await dataSource.query(
        `SELECT name FROM pg_prepared_statements
         WHERE statement LIKE '%FOR UPDATE SKIP LOCKED%' AND statement LIKE '%d.id = ANY($2::uuid[])%'
           AND (statement LIKE '%INSERT INTO delivery_attempts%') = $1`,
        [withOutcomes],
      );
      // A lane's batch: a few ids (then the status indexes looked cheaper than the key).
      const next: { id: string }[] = await dataSource.query(
        `SELECT id FROM deliveries WHERE status = 'pending' LIMIT 8`,
      );
      const ids = next.map((row) => row.id).join(',');
      // Planned as it runs (EXPLAIN without ANALYZE changes nothing).
      const [row]: { 'QUERY PLAN': [{ Plan: PlanNode }] }[] = await dataSource.query(
        `EXPLAIN (FORMAT JSON) EXECUTE ${name}(${values(ids)})`,
      );
      return indexesIn(row['QUERY PLAN'][0].Plan);
    }

    it('finds the delivery through its primary key, never through the status indexes', async () => {
      const [{ id }]: { id: string }[] = await dataSource.query(
        `SELECT id FROM deliveries WHERE status = 'pending' LIMIT 1`,
      );
      const [claimed] = await deliveries.claimFirstAttempts([id], 60_000);
      expect(claimed?.id).toBe(id);
      const indexes = await planOf(false, (ids) => `60000, '{${ids}}', 8, '{}'`);
      expect(indexes).toContain('deliveries_pkey');
      expect(
        indexes.filter((index) => index.startsWith('deliveries_') && index !== 'deliveries_pkey'),
      ).toEqual([]);
    });

    it('does the same when the claim shares its statement with outcomes', async () => {
      const [first, second]: { id: string }[] = await dataSource.query(
        `SELECT id FROM deliveries WHERE status = 'pending' LIMIT 2`,
      );
      const [claimed] = await deliveries.claimFirstAttempts([first.id], 60_000);
      if (claimed === undefined) throw new Error('expected to claim the delivery');
      const taken = await deliveries.recordAttemptsAndClaimFirst(
        [
          {
            delivery: claimed,
            attempt: {
              trigger: 'scheduled',
              startedAt: new Date(),
              durationMs: 1,
              responseStatus: 200,
              responseBody: 'ok',
              error: null,
            },
            transition: { status: 'succeeded' },
          },
        ],
        [second.id],
        60_000,
        { failingForMs: 60_000, minFailures: 100 },
      );
      expect(taken.map((delivery) => delivery.id)).toEqual([second.id]);
      // Its outcomes: none (fourteen empty columns); no tokens of ours.
      const noOutcomes = Array.from({ length: 14 }, () => `'{}'`).join(', ');
      const indexes = await planOf(true, (ids) => `60000, '{${ids}}', 8, ${noOutcomes}, '{}'`);
      expect(indexes).toContain('deliveries_pkey');
      expect(
        indexes.filter((index) => index.startsWith('deliveries_') && index !== 'deliveries_pkey'),
      ).toEqual([]);
    });
  },
);
