import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The history is paged newest first on (created_at, seq), so a time window (since/until)
 * and every equality filter are ranges of one index instead of a scan filtered row by row.
 * created_at comes from clock_timestamp() (insertion time, not transaction start) so its
 * order follows insertion; seq breaks ties.
 */
export class TimeOrderedHistoryIndexes1764432000000 implements MigrationInterface {
  name = 'TimeOrderedHistoryIndexes1764432000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE deliveries ALTER COLUMN created_at SET DEFAULT clock_timestamp()`,
    );
    for (const index of [
      'deliveries_account_seq_idx',
      'deliveries_webhook_seq_idx',
      'deliveries_status_seq_idx',
      'deliveries_account_type_seq_idx',
      'deliveries_created_at_idx',
      'deliveries_webhook_created_idx',
    ]) {
      await queryRunner.query(`DROP INDEX ${index}`);
    }
    const keyset = 'created_at DESC, seq DESC';
    await queryRunner.query(`CREATE INDEX deliveries_created_idx ON deliveries (${keyset})`);
    for (const [name, columns] of [
      ['deliveries_account_created_idx', 'account_id'],
      ['deliveries_webhook_created_idx', 'webhook_id'],
      ['deliveries_status_created_idx', 'status'],
      ['deliveries_type_created_idx', 'event_type'],
      ['deliveries_account_type_created_idx', 'account_id, event_type'],
      ['deliveries_account_status_created_idx', 'account_id, status'],
    ]) {
      await queryRunner.query(`CREATE INDEX ${name} ON deliveries (${columns}, ${keyset})`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const index of [
      'deliveries_created_idx',
      'deliveries_account_created_idx',
      'deliveries_webhook_created_idx',
      'deliveries_status_created_idx',
      'deliveries_type_created_idx',
      'deliveries_account_type_created_idx',
      'deliveries_account_status_created_idx',
    ]) {
      await queryRunner.query(`DROP INDEX ${index}`);
    }
    await queryRunner.query(
      `CREATE INDEX deliveries_account_seq_idx ON deliveries (account_id, seq DESC)`,
    );
    await queryRunner.query(
      `CREATE INDEX deliveries_webhook_seq_idx ON deliveries (webhook_id, seq DESC)`,
    );
    await queryRunner.query(
      `CREATE INDEX deliveries_status_seq_idx ON deliveries (status, seq DESC)`,
    );
    await queryRunner.query(
      `CREATE INDEX deliveries_account_type_seq_idx ON deliveries (account_id, event_type, seq DESC)`,
    );
    await queryRunner.query(`CREATE INDEX deliveries_created_at_idx ON deliveries (created_at)`);
    await queryRunner.query(
      `CREATE INDEX deliveries_webhook_created_idx ON deliveries (webhook_id, created_at)`,
    );
    await queryRunner.query(`ALTER TABLE deliveries ALTER COLUMN created_at SET DEFAULT now()`);
  }
}
