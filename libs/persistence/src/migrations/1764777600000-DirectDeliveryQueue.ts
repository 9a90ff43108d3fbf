import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Direct mode (DELIVERY_MODE=direct): the api stores an event with its deliveries and no Kafka
 * message exists to say who makes their first attempts. These two tables say it instead.
 *
 * `direct_queue` holds the deliveries of direct-mode events still waiting for their first
 * attempt, in delivery order: a `pending` delivery without `next_attempt_at` belongs to the
 * consumer of its Kafka message, unless it has a row here, and then to its account's lane.
 *
 * `direct_lanes` has a row per account with such deliveries. A worker leases the row (SKIP
 * LOCKED) and makes the account's first attempts one after another, so the account keeps its
 * order whatever the number of workers; a worker that dies lets the lease run out and another
 * takes the lane over. `enqueued` counts the api's additions: a worker deletes the row only when
 * the count is what it was when it found the queue empty, so an event stored meanwhile keeps
 * its lane.
 */
export class DirectDeliveryQueue1764777600000 implements MigrationInterface {
  name = 'DirectDeliveryQueue1764777600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE direct_queue (
        delivery_id uuid PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
        account_id text NOT NULL,
        seq bigint NOT NULL
      )`);
    // A lane reads its account's next deliveries in order.
    await queryRunner.query(
      `CREATE INDEX direct_queue_account_seq_idx ON direct_queue (account_id, seq)`,
    );
    await queryRunner.query(`
      CREATE TABLE direct_lanes (
        account_id text PRIMARY KEY,
        enqueued bigint NOT NULL DEFAULT 1,
        ready_at timestamptz NOT NULL DEFAULT now(),
        lease_token uuid,
        lease_expires_at timestamptz
      )`);
    // Workers take the lanes waiting longest first.
    await queryRunner.query(`CREATE INDEX direct_lanes_ready_idx ON direct_lanes (ready_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE direct_lanes`);
    await queryRunner.query(`DROP TABLE direct_queue`);
  }
}
