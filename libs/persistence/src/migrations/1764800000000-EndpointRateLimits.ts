import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-endpoint rate limits. `webhooks.rate_limit_per_s` is the limit (NULL: none).
 *
 * `webhook_rate_tokens` is one token bucket per limited webhook, shared by every worker:
 * `tokens` is what the bucket held at `refilled_at` (Postgres' clock, the one clock all workers
 * share). A worker about to send refills it by the time elapsed times the rate, capped at the
 * burst, and takes a token in the same statement, under the row's lock; so however many
 * workers send, the webhook gets no more than the burst plus the rate times the time.
 * A row is made by the first take and goes with its webhook.
 */
export class EndpointRateLimits1764800000000 implements MigrationInterface {
  name = 'EndpointRateLimits1764800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhooks ADD COLUMN rate_limit_per_s int NULL`);
    await queryRunner.query(`
      CREATE TABLE webhook_rate_tokens (
        webhook_id uuid PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
        tokens double precision NOT NULL,
        refilled_at timestamptz NOT NULL
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE webhook_rate_tokens`);
    await queryRunner.query(`ALTER TABLE webhooks DROP COLUMN rate_limit_per_s`);
  }
}
