import { databaseUrlOrExit, encryptionConfigOrExit } from '@libs/config';
import { reencryptWebhookSecrets, runMigrations } from '@libs/persistence';

/**
 * The migration step of a deployment (the Kubernetes Job, the compose `migrate` service): the
 * compiled twin of `npm run migration:run`, for images built without dev dependencies.
 * `main.js reencrypt-secrets` is the twin of `npm run secrets -- reencrypt`.
 */
async function main(command = 'migrate'): Promise<void> {
  const databaseUrl = databaseUrlOrExit('migrate');
  const encryption = encryptionConfigOrExit('migrate');
  if (command === 'reencrypt-secrets') {
    if (encryption.keys.length === 0) exit(2, 'ENCRYPTION_KEYS is not set: no key to encrypt with');
    const report = await reencryptWebhookSecrets(databaseUrl, encryption);
    say(`re-encrypted ${report.resealed} webhook(s) with key "${encryption.keys[0].id}"`);
    if (report.conflicts > 0) say(`${report.conflicts} webhook(s) kept changing: run it again`);
    for (const { id, reason } of report.failed) say(`webhook ${id}: ${reason}`);
    if (report.failed.length > 0 || report.conflicts > 0) process.exit(1);
    return;
  }
  if (command !== 'migrate') exit(2, 'usage: main.js [migrate | reencrypt-secrets]');
  const applied = await runMigrations(databaseUrl, encryption);
  const lines =
    applied.length === 0 ? ['the schema is up to date'] : applied.map((name) => `applied ${name}`);
  for (const line of lines) say(line);
}

function say(line: string): void {
  process.stdout.write(`[migrate] ${line}\n`);
}

function exit(code: number, message: string): never {
  process.stderr.write(`[migrate] ${message}\n`);
  process.exit(code);
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(`[migrate] failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
