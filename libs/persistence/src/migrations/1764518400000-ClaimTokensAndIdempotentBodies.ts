import { MigrationInterface, QueryRunner } from 'typeorm';

export class ClaimTokensAndIdempotentBodies1764518400000 implements MigrationInterface {
  name = 'ClaimTokensAndIdempotentBodies1764518400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Each claim gets a token; an attempt is recorded only by the holder of the current one,
    // so a worker that stalled past its lease cannot overwrite its successor's outcome.
    await queryRunner.query(`ALTER TABLE deliveries ADD COLUMN claim_token uuid`);
    // A repeated Idempotency-Key publishes the stored event again (the worker stores each id
    // once), so a crash between binding the key and Kafka's acknowledgement loses nothing.
    await queryRunner.query(`ALTER TABLE idempotency_keys ADD COLUMN event_body text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE idempotency_keys DROP COLUMN event_body`);
    await queryRunner.query(`ALTER TABLE deliveries DROP COLUMN claim_token`);
  }
}
