import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { loadEncryptionConfig } from '@libs/config';
import { DeliveryRepository, dataSourceOptions, runMigrations } from '@libs/persistence';
import { TEST_ENCRYPTION_KEYS, requiredVariable, testWebhookCredentials } from './test-environment';

export interface IsolatedDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A migrated database of its own, on the run's Postgres server, for tests of queries that
 * scan the whole table (due retries, retention): the e2e tests' rows must not leak in, and
 * such a test must not claim or delete theirs.
 */
export async function createIsolatedDatabase(): Promise<IsolatedDatabase> {
  const serverUrl = new URL(requiredVariable('DATABASE_URL'));
  const name = `webhooks_isolated_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await withAdminClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await runMigrations(
    url.toString(),
    loadEncryptionConfig({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }),
  );
  return {
    url: url.toString(),
    drop: () =>
      withAdminClient(serverUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      ),
  };
}

async function withAdminClient(
  serverUrl: URL,
  work: (client: Client) => Promise<unknown>,
): Promise<void> {
  const client = new Client({ connectionString: serverUrl.toString() });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** An isolated database, a DataSource on it and the delivery repository over that. */
export interface IsolatedDeliveries {
  database: IsolatedDatabase;
  dataSource: DataSource;
  deliveries: DeliveryRepository;
  /** Closes the DataSource, then drops the database. */
  close(): Promise<void>;
}

/** For tests of the delivery repository and what builds on it, on a real Postgres. */
export async function openIsolatedDeliveries(
  poolSize: number,
  options: { genericPlans?: boolean } = {},
): Promise<IsolatedDeliveries> {
  const database = await createIsolatedDatabase();
  try {
    const dataSource = await new DataSource(
      dataSourceOptions(database.url, poolSize, options),
    ).initialize();
    return {
      database,
      dataSource,
      deliveries: new DeliveryRepository(dataSource, testWebhookCredentials()),
      close: async () => {
        await dataSource.destroy();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

/**
 * Makes a lane lose its event (or lane) right after the repository stored its first outcome,
 * with the claim made ahead in the same statement: for tests of what becomes of a claim the
 * lane may no longer use. `owned` is the lane's ownership; `sharedCalls` counts the calls that
 * stored outcomes and claims together.
 */
export function loseOwnershipAfterFirstOutcome(deliveries: DeliveryRepository): {
  owned: () => boolean;
  sharedCalls: () => number;
  restore: () => void;
} {
  let owned = true;
  let shared = 0;
  const original = deliveries.recordAttemptsAndClaimFirst;
  deliveries.recordAttemptsAndClaimFirst = async (...args) => {
    const [outcomes, ids] = args;
    const claimed = await original.apply(deliveries, args);
    if (outcomes.length > 0 && ids.length > 0) shared += 1;
    if (outcomes.length > 0) owned = false;
    return claimed;
  };
  return {
    owned: () => owned,
    sharedCalls: () => shared,
    restore: () => {
      deliveries.recordAttemptsAndClaimFirst = original;
    },
  };
}
