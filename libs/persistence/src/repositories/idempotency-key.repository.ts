import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** How long an Idempotency-Key of POST /v1/events is remembered. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

@Injectable()
export class IdempotencyKeyRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Binds the key to `eventId` unless it is already bound (within the window), and returns
   * the event id the key stands for: `eventId` for the first request, the earlier one after.
   */
  async claim(
    accountId: string,
    key: string,
    eventId: string,
  ): Promise<{ eventId: string; first: boolean }> {
    const rows: { event_id: string; first: boolean }[] = await this.dataSource.query(
      `WITH claimed AS (
         INSERT INTO idempotency_keys (account_id, key, event_id) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, key) DO UPDATE
           SET event_id = EXCLUDED.event_id, created_at = now()
           WHERE idempotency_keys.created_at < now() - make_interval(secs => $4::double precision / 1000)
         RETURNING event_id, true AS first
       )
       SELECT event_id, first FROM claimed
       UNION ALL
       SELECT event_id, false AS first FROM idempotency_keys
       WHERE account_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM claimed)`,
      [accountId, key, eventId, IDEMPOTENCY_WINDOW_MS],
    );
    if (rows.length > 0) return { eventId: rows[0].event_id, first: rows[0].first };
    // A concurrent request with the same key committed after this statement's snapshot.
    const [existing]: { event_id: string }[] = await this.dataSource.query(
      `SELECT event_id FROM idempotency_keys WHERE account_id = $1 AND key = $2`,
      [accountId, key],
    );
    return { eventId: existing.event_id, first: false };
  }

  /** Frees the key again, when the event it was claimed for could not be published. */
  async release(accountId: string, key: string, eventId: string): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND event_id = $3`,
      [accountId, key, eventId],
    );
  }
}
