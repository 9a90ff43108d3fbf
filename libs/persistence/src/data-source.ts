import { DataSource, DataSourceOptions } from 'typeorm';
import { EncryptionConfig } from '@libs/config';
import { FieldCipher, WebhookCredentials } from '@libs/secrets';
import { ResealReport, resealWebhookCredentials } from './encryption/reseal-webhook-credentials';
import { ENTITIES } from './entities';
import { migrations } from './migrations';

/**
 * The one TypeORM configuration, shared by both apps, the migration script and the tests.
 * The apps never run migrations; `runMigrations` adds them, with the keys they need.
 */
export function dataSourceOptions(
  databaseUrl: string,
  poolSize = 20,
  { genericPlans = false }: { genericPlans?: boolean } = {},
): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: ENTITIES,
    synchronize: false,
    migrationsTransactionMode: 'each',
    extra: {
      max: poolSize,
      application_name: 'kafka-webhooks',
      // A database that stopped answering (a partition, a failover) must fail fast, so the
      // worker's consumer can wait it out heartbeating instead of hanging in a connect.
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      // A session setting, made on each new connection before the pool hands it out (a
      // startup parameter would make PgBouncer refuse the connection).
      ...(genericPlans ? { onConnect: planOnce } : {}),
    },
  };
}

async function planOnce(client: { query: (text: string) => Promise<unknown> }): Promise<void> {
  await client.query('SET plan_cache_mode = force_generic_plan');
}

/**
 * Applies pending migrations and returns their names. `encryption` is what the apps run with
 * (ENCRYPTION_KEYS): the migration that encrypts existing secrets seals with its first key.
 */
export async function runMigrations(
  databaseUrl: string,
  encryption: EncryptionConfig,
): Promise<string[]> {
  const credentials = new WebhookCredentials(new FieldCipher(encryption));
  const dataSource = new DataSource({
    ...dataSourceOptions(databaseUrl, 2),
    migrations: migrations(credentials),
  });
  await dataSource.initialize();
  try {
    const applied = await dataSource.runMigrations();
    return applied.map((migration) => migration.name);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Seals every webhook's secrets and header values with the first of ENCRYPTION_KEYS (see
 * `resealWebhookCredentials`): after a key rotation, or to encrypt what plaintext mode stored.
 */
export async function reencryptWebhookSecrets(
  databaseUrl: string,
  encryption: EncryptionConfig,
): Promise<ResealReport> {
  const credentials = new WebhookCredentials(new FieldCipher(encryption));
  const dataSource = new DataSource(dataSourceOptions(databaseUrl, 2));
  await dataSource.initialize();
  try {
    return await resealWebhookCredentials(
      (sql, parameters) => dataSource.query(sql, parameters),
      credentials,
    );
  } finally {
    await dataSource.destroy();
  }
}
