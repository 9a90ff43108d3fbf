import { MigrationInterface, QueryRunner } from 'typeorm';

export class AccountsAndRetention1764345600000 implements MigrationInterface {
  name = 'AccountsAndRetention1764345600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Account API keys: only a SHA-256 of the secret part is kept; the key is shown once.
    await queryRunner.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        account_id text NOT NULL,
        secret_hash bytea NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await queryRunner.query(
      `CREATE INDEX api_keys_account_idx ON api_keys (account_id, created_at)`,
    );

    // Idempotency-Key of POST /v1/events: the event id it produced, for 24 hours.
    await queryRunner.query(`
      CREATE TABLE idempotency_keys (
        account_id text NOT NULL,
        key text NOT NULL,
        event_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (account_id, key)
      )`);
    await queryRunner.query(
      `CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at)`,
    );

    // Webhook stats read a webhook's recent deliveries, then their recent attempts.
    await queryRunner.query(
      `CREATE INDEX deliveries_webhook_created_idx ON deliveries (webhook_id, created_at)`,
    );
    await queryRunner.query(
      `CREATE INDEX delivery_attempts_started_idx ON delivery_attempts (delivery_id, started_at)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX delivery_attempts_started_idx`);
    await queryRunner.query(`DROP INDEX deliveries_webhook_created_idx`);
    await queryRunner.query(`DROP TABLE idempotency_keys`);
    await queryRunner.query(`DROP TABLE api_keys`);
  }
}
