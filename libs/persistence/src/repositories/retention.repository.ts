import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { IDEMPOTENCY_WINDOW_MS } from './idempotency-key.repository';

/** Deletes old history in small batches: each is its own short transaction, so locks stay brief. */
@Injectable()
export class RetentionRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Deletes up to `batchSize` events received before `cutoff`, with their deliveries and
   * attempts (ON DELETE CASCADE). Returns how many events went.
   */
  async deleteEventsBatch(cutoff: Date, batchSize: number): Promise<number> {
    const [{ count }]: { count: number }[] = await this.dataSource.query(
      `WITH doomed AS (
         SELECT account_id, id FROM events e WHERE e.received_at < $1
           -- Never cut a delivery short: an event goes once its deliveries are finished.
           AND NOT EXISTS (
             SELECT 1 FROM deliveries d
             WHERE d.account_id = e.account_id AND d.event_id = e.id AND d.status IN ('pending', 'delivering', 'retrying')
           )
         ORDER BY e.received_at LIMIT $2
         FOR UPDATE SKIP LOCKED
       ),
       deleted AS (DELETE FROM events e USING doomed
         WHERE e.account_id = doomed.account_id AND e.id = doomed.id RETURNING 1)
       SELECT count(*)::int AS count FROM deleted`,
      [cutoff, batchSize],
    );
    return count;
  }

  async deleteExpiredIdempotencyKeys(): Promise<number> {
    const [{ count }]: { count: number }[] = await this.dataSource.query(
      `WITH deleted AS (
         DELETE FROM idempotency_keys
         WHERE created_at < now() - make_interval(secs => $1::double precision / 1000)
         RETURNING 1
       )
       SELECT count(*)::int AS count FROM deleted`,
      [IDEMPOTENCY_WINDOW_MS],
    );
    return count;
  }

  /**
   * Runs `work` only if no other worker holds the retention lock; returns false otherwise.
   * A session-level advisory lock on one dedicated connection.
   */
  async withExclusiveLock(work: () => Promise<void>): Promise<boolean> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }]: { locked: boolean }[] = await runner.query(
        `SELECT pg_try_advisory_lock(hashtext('kafka-webhooks:retention')) AS locked`,
      );
      if (!locked) return false;
      try {
        await work();
      } finally {
        await runner.query(`SELECT pg_advisory_unlock(hashtext('kafka-webhooks:retention'))`);
      }
      return true;
    } finally {
      await runner.release();
    }
  }
}
