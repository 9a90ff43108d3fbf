import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every delivery is inserted once and updated twice (claimed, then recorded), and every index
 * on the table gets a new entry each time (status is indexed, so no update is HOT). Two
 * indexes served nothing: `seq` alone is never searched (the history pages on
 * (created_at, seq), whose indexes end with seq; the identity keeps it unique), and attempts
 * are found by delivery through (delivery_id, number), a delivery having only a few.
 */
export class LeanerDeliveryIndexes1764700000000 implements MigrationInterface {
  name = 'LeanerDeliveryIndexes1764700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX IF EXISTS deliveries_seq_idx`);
    await queryRunner.query(`DROP INDEX IF EXISTS delivery_attempts_started_idx`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX delivery_attempts_started_idx ON delivery_attempts (delivery_id, started_at)`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX deliveries_seq_idx ON deliveries (seq)`);
  }
}
