import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Event ids belong to their account: two accounts may publish the same id, and each is its
 * own event (webhook-id stays the event id). Before this, the second account's event was
 * accepted by the api and then dropped by the worker.
 */
export class AccountScopedEventIds1764604800000 implements MigrationInterface {
  name = 'AccountScopedEventIds1764604800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_id_fkey`);
    await queryRunner.query(`ALTER TABLE events DROP CONSTRAINT events_pkey`);
    await queryRunner.query(`ALTER TABLE events ADD PRIMARY KEY (account_id, id)`);
    await queryRunner.query(`
      ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_fkey
      FOREIGN KEY (account_id, event_id) REFERENCES events (account_id, id) ON DELETE CASCADE`);
    // GET /v1/events/{id} with the admin key looks an id up across accounts.
    await queryRunner.query(`CREATE INDEX events_id_idx ON events (id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX events_id_idx`);
    await queryRunner.query(`ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_fkey`);
    await queryRunner.query(`ALTER TABLE events DROP CONSTRAINT events_pkey`);
    await queryRunner.query(`ALTER TABLE events ADD PRIMARY KEY (id)`);
    await queryRunner.query(`
      ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_id_fkey
      FOREIGN KEY (event_id) REFERENCES events (id) ON DELETE CASCADE`);
  }
}
