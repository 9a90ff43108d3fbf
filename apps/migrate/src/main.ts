import { databaseUrlOrExit } from '@libs/config';
import { runMigrations } from '@libs/persistence';

/**
 * The migration step of a deployment (the Kubernetes Job, the compose `migrate` service): the
 * compiled twin of `npm run migration:run`, for images built without dev dependencies.
 */
async function migrate(): Promise<void> {
  const applied = await runMigrations(databaseUrlOrExit('migrate'));
  const lines =
    applied.length === 0 ? ['the schema is up to date'] : applied.map((name) => `applied ${name}`);
  for (const line of lines) process.stdout.write(`[migrate] ${line}\n`);
}

migrate().catch((error: unknown) => {
  console.error(`[migrate] failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
