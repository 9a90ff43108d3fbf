/**
 * `npm run secrets -- reencrypt` seals every webhook's signing secrets and custom header
 * values with the first key of ENCRYPTION_KEYS: after putting a new key first, or to encrypt
 * what was stored in plaintext mode. Safe while the api and workers run (row by row, each
 * written only if unchanged since it was read) and idempotent: run it again at any time.
 * Needs DATABASE_URL and ENCRYPTION_KEYS, as the apps have them. The image's twin is
 * `node dist/apps/migrate/main.js reencrypt-secrets`.
 */
import { databaseUrlOrExit, encryptionConfigOrExit } from '@libs/config';
import { reencryptWebhookSecrets } from '@libs/persistence';
import { errorMessage } from './infra/process';

async function main(): Promise<void> {
  const [command] = process.argv.slice(2);
  if (command !== 'reencrypt') {
    console.error('usage: npm run secrets -- reencrypt');
    process.exit(2);
  }
  const databaseUrl = databaseUrlOrExit('secrets');
  const encryption = encryptionConfigOrExit('secrets');
  const [current] = encryption.keys;
  if (!current) {
    console.error('[secrets] ENCRYPTION_KEYS is not set: there is no key to encrypt with');
    process.exit(2);
  }
  const started = Date.now();
  const report = await reencryptWebhookSecrets(databaseUrl, encryption);
  console.log(
    `[secrets] re-encrypted ${report.resealed} webhook(s) with key "${current.id}" ` +
      `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  if (report.conflicts > 0) {
    console.error(`[secrets] ${report.conflicts} webhook(s) changed on every pass: run it again`);
  }
  for (const { id, reason } of report.failed) console.error(`[secrets] webhook ${id}: ${reason}`);
  if (report.failed.length > 0 || report.conflicts > 0) process.exit(1);
}

main().catch((error: unknown) => {
  console.error(`[secrets] failed: ${errorMessage(error)}`);
  process.exit(1);
});
