import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A counter per account of changes to what decides where its events go:
 * `webhook_versions.version` goes up in every transaction that creates, deletes or changes one
 * of the account's webhooks' address, credentials, subscriptions, state or rate limit (a row
 * trigger, so any writer counts: the api, the worker disabling a failing endpoint, a key
 * rotation, plain SQL). The worker's cache of an account's webhooks is valid only while the
 * account's counter reads as it did when the cache was filled. Per account, so that changes in
 * one account neither wait for nor invalidate another's. The endpoint-health columns the
 * worker writes after attempts are not listed: they change on every failure and route nothing.
 */
export class WebhookChangeCounter1764900000000 implements MigrationInterface {
  name = 'WebhookChangeCounter1764900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhook_versions (
        account_id text PRIMARY KEY,
        version bigint NOT NULL
      )`);
    await queryRunner.query(`
      CREATE FUNCTION count_webhook_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_LEVEL = 'STATEMENT' THEN
          UPDATE webhook_versions SET version = version + 1;
          RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' THEN
          INSERT INTO webhook_versions VALUES (OLD.account_id, 1)
          ON CONFLICT (account_id) DO UPDATE SET version = webhook_versions.version + 1;
        END IF;
        IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.account_id <> OLD.account_id) THEN
          INSERT INTO webhook_versions VALUES (NEW.account_id, 1)
          ON CONFLICT (account_id) DO UPDATE SET version = webhook_versions.version + 1;
        END IF;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER webhooks_changed
      AFTER INSERT OR DELETE OR UPDATE OF
        account_id, url, event_types, headers, secret, previous_secret,
        previous_secret_expires_at, enabled, deleted_at, rate_limit_per_s
      ON webhooks FOR EACH ROW EXECUTE FUNCTION count_webhook_change()`);
    await queryRunner.query(`
      CREATE TRIGGER webhooks_truncated AFTER TRUNCATE ON webhooks
      FOR EACH STATEMENT EXECUTE FUNCTION count_webhook_change()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER webhooks_truncated ON webhooks`);
    await queryRunner.query(`DROP TRIGGER webhooks_changed ON webhooks`);
    await queryRunner.query(`DROP FUNCTION count_webhook_change()`);
    await queryRunner.query(`DROP TABLE webhook_versions`);
  }
}
