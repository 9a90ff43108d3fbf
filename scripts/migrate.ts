/**
 * `npm run migration:run`: applies pending TypeORM migrations to DATABASE_URL, encrypting
 * what they store with ENCRYPTION_KEYS (as the apps are configured).
 */
import { EncryptionConfig, encryptionConfigOrExit } from '@libs/config';
import { runMigrations } from '@libs/persistence';
import { errorMessage } from './infra/process';

export async function migrate(databaseUrl: string, encryption: EncryptionConfig): Promise<void> {
  const applied = await runMigrations(databaseUrl, encryption);
  if (applied.length === 0) {
    console.log('[migrate] the schema is up to date');
    return;
  }
  for (const name of applied) console.log(`[migrate] applied ${name}`);
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error(
      'DATABASE_URL is not set: point it at the database to migrate, e.g.\n' +
        '  DATABASE_URL=postgres://user:password@127.0.0.1:5432/webhooks npm run migration:run\n' +
        '(`npm run infra:up` prints one for a local embedded PostgreSQL)',
    );
    process.exit(2);
  }
  await migrate(databaseUrl, encryptionConfigOrExit('migrate'));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(`[migrate] failed: ${errorMessage(error)}`);
    process.exit(1);
  });
}
