import { databaseUrlOrExit } from '@libs/config';
import { runMigrations } from '@libs/persistence';

/**
 * The migration step of a deployment (the Kubernetes Job, the compose `migrate` service): the
 * compiled twin of `npm run migration:run`, for images built without dev dependencies.
 */
async function migrate(): Promise<void> {
  const applied = await runMigrations(databaseUrlOrExit('migrate'));
  if (applied.length === 0) console.log('[migrate] the schema is up to date');
  for (const name of applied) console.log(`[migrate] applied ${name}`);
}

migrate().catch((error: unknown) => {
  console.error(`[migrate] failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
