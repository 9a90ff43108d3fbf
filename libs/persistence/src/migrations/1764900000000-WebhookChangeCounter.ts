import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A counter of changes to what decides where events go: `webhook_changes.version` goes up in
 * every transaction that creates, deletes or changes a webhook's address, credentials,
 * subscriptions, state or rate limit (a statement trigger, so any writer counts, the api, the
 * worker disabling a failing endpoint, a key rotation, plain SQL). The worker's subscriber
 * cache is valid only while the counter reads as it did when the cache was filled. The
 * endpoint-health columns the worker writes after attempts are not listed: they change on
 * every failure and route nothing.
 */
export class WebhookChangeCounter1764900000000 implements MigrationInterface {
  name = 'WebhookChangeCounter1764900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhook_changes (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        version bigint NOT NULL DEFAULT 0
      )`);
    await queryRunner.query(`INSERT INTO webhook_changes DEFAULT VALUES`);
    await queryRunner.query(`
      CREATE FUNCTION count_webhook_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE webhook_changes SET version = version + 1;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER webhooks_changed
      AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF
        account_id, url, event_types, headers, secret, previous_secret,
        previous_secret_expires_at, enabled, deleted_at, rate_limit_per_s
      ON webhooks FOR EACH STATEMENT EXECUTE FUNCTION count_webhook_change()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER webhooks_changed ON webhooks`);
    await queryRunner.query(`DROP FUNCTION count_webhook_change()`);
    await queryRunner.query(`DROP TABLE webhook_changes`);
  }
}
