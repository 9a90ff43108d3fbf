import { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1764172800000 implements MigrationInterface {
  name = 'InitialSchema1764172800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE webhooks (
        id uuid PRIMARY KEY,
        account_id text NOT NULL,
        url text NOT NULL,
        event_types text[] NOT NULL DEFAULT '{*}',
        description text,
        headers jsonb NOT NULL DEFAULT '{}',
        secret text NOT NULL,
        previous_secret text,
        previous_secret_expires_at timestamptz,
        enabled boolean NOT NULL DEFAULT true,
        disabled_reason text,
        deleted_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // The worker looks up an account's live webhooks for every event.
    await queryRunner.query(`
      CREATE INDEX webhooks_account_live_idx ON webhooks (account_id, created_at)
      WHERE deleted_at IS NULL`);

    await queryRunner.query(`
      CREATE TABLE events (
        id text PRIMARY KEY,
        account_id text NOT NULL,
        type text NOT NULL,
        body text NOT NULL,
        occurred_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        kafka_partition int,
        kafka_offset bigint
      )`);
    await queryRunner.query(`CREATE INDEX events_received_at_idx ON events (received_at)`);

    await queryRunner.query(`
      CREATE TABLE deliveries (
        id uuid PRIMARY KEY,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        event_id text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        webhook_id uuid NOT NULL REFERENCES webhooks (id),
        account_id text NOT NULL,
        event_type text NOT NULL,
        status text NOT NULL CHECK (status IN
          ('pending', 'delivering', 'succeeded', 'retrying', 'failed', 'discarded')),
        attempt_count int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        lease_expires_at timestamptz,
        last_response_status int,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        CONSTRAINT deliveries_event_webhook_key UNIQUE (event_id, webhook_id)
      )`);
    // Newest-first keyset pagination (seq DESC), alone and under each equality filter.
    await queryRunner.query(`CREATE UNIQUE INDEX deliveries_seq_idx ON deliveries (seq)`);
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
    // The retry scheduler scans only what is waiting, oldest due first.
    await queryRunner.query(`
      CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at)
      WHERE status IN ('pending', 'retrying', 'delivering')`);

    await queryRunner.query(`
      CREATE TABLE delivery_attempts (
        id uuid PRIMARY KEY,
        delivery_id uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
        number int NOT NULL,
        trigger text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
        started_at timestamptz NOT NULL,
        duration_ms int NOT NULL,
        response_status int,
        response_body text,
        error text,
        next_attempt_at timestamptz,
        CONSTRAINT delivery_attempts_number_key UNIQUE (delivery_id, number)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE delivery_attempts`);
    await queryRunner.query(`DROP TABLE deliveries`);
    await queryRunner.query(`DROP TABLE events`);
    await queryRunner.query(`DROP TABLE webhooks`);
  }
}
