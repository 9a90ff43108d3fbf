import { MigrationInterface, QueryRunner } from 'typeorm';

export class RetriesAndEndpointHealth1764259200000 implements MigrationInterface {
  name = 'RetriesAndEndpointHealth1764259200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // A manual retry or a replay asks the worker for one attempt now, outside the schedule.
    await queryRunner.query(
      `ALTER TABLE deliveries ADD COLUMN manual_attempt_requested_at timestamptz`,
    );
    await queryRunner.query(`
      CREATE INDEX deliveries_manual_requested_idx ON deliveries (manual_attempt_requested_at)
      WHERE manual_attempt_requested_at IS NOT NULL`);
    // The due-retry scan orders by next_attempt_at among waiting rows and reclaims expired leases.
    await queryRunner.query(`
      CREATE INDEX deliveries_lease_idx ON deliveries (lease_expires_at)
      WHERE status = 'delivering'`);
    // Endpoint health: a webhook failing without a single success for long enough is disabled.
    await queryRunner.query(`
      ALTER TABLE webhooks
        ADD COLUMN failing_since timestamptz,
        ADD COLUMN consecutive_failures int NOT NULL DEFAULT 0,
        ADD COLUMN last_success_at timestamptz,
        ADD COLUMN last_failure_at timestamptz`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE webhooks
        DROP COLUMN failing_since, DROP COLUMN consecutive_failures,
        DROP COLUMN last_success_at, DROP COLUMN last_failure_at`);
    await queryRunner.query(`DROP INDEX deliveries_lease_idx`);
    await queryRunner.query(`DROP INDEX deliveries_manual_requested_idx`);
    await queryRunner.query(`ALTER TABLE deliveries DROP COLUMN manual_attempt_requested_at`);
  }
}
