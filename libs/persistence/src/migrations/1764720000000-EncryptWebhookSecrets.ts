import { MigrationInterface, QueryRunner } from 'typeorm';
import { WebhookCredentials } from '@libs/secrets';
import {
  StoredRow,
  fromRow,
  resealWebhookCredentials,
} from '../encryption/reseal-webhook-credentials';

/**
 * Encrypts the signing secrets and custom header values stored in clear before encryption at
 * rest existed. TypeORM builds migrations without arguments, so the key reaches this one
 * through a class made for the run (see `runMigrations`). Without a key (plaintext mode) it
 * leaves the rows as they are; `npm run secrets -- reencrypt` encrypts them once a key is set.
 */
export function encryptWebhookSecrets(credentials: WebhookCredentials) {
  return class EncryptWebhookSecrets1764720000000 implements MigrationInterface {
    name = 'EncryptWebhookSecrets1764720000000';

    async up(queryRunner: QueryRunner): Promise<void> {
      if (credentials.sealingPrefix === null) return;
      const report = await resealWebhookCredentials(
        (sql, parameters) => queryRunner.query(sql, parameters),
        credentials,
      );
      if (report.failed.length > 0) {
        const lines = report.failed.map(({ id, reason }) => `webhook ${id}: ${reason}`);
        throw new Error(`cannot encrypt every webhook's secrets:\n${lines.join('\n')}`);
      }
    }

    /** Back to clear text, for the code before this migration (it needs the keys, too). */
    async down(queryRunner: QueryRunner): Promise<void> {
      const rows: StoredRow[] = await queryRunner.query(
        `SELECT id, secret, previous_secret, headers FROM webhooks
         WHERE starts_with(secret, 'enc:') OR starts_with(previous_secret, 'enc:')
            OR EXISTS (SELECT 1 FROM jsonb_each_text(headers) h WHERE starts_with(h.value, 'enc:'))`,
      );
      if (rows.length === 0) return;
      for (const row of rows) {
        const clear = credentials.openAll(fromRow(row));
        await queryRunner.query(
          `UPDATE webhooks SET secret = $2, previous_secret = $3, headers = $4::jsonb WHERE id = $1`,
          [row.id, clear.secret, clear.previousSecret, JSON.stringify(clear.headers)],
        );
      }
    }
  };
}
