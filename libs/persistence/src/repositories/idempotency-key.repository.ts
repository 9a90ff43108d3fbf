import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** How long an Idempotency-Key of POST /v1/events is remembered. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
const MAX_CLAIM_ROUNDS = 5;

@Injectable()
export class IdempotencyKeyRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Binds the key to the event unless it is already bound (within the window), and returns
   * the event the key stands for: this one for the first request, the earlier one after
   * (`eventBody` is null for keys stored before bodies were kept).
   */
  async claim(
    accountId: string,
    key: string,
    eventId: string,
    eventBody: string,
  ): Promise<{ eventId: string; eventBody: string | null; first: boolean }> {
    type Row = { event_id: string; event_body: string | null; first: boolean };
    for (let attempt = 1; ; attempt += 1) {
      const rows: Row[] = await this.dataSource.query(
        `WITH claimed AS (
           INSERT INTO idempotency_keys (account_id, key, event_id, event_body) VALUES ($1, $2, $3, $4)
           ON CONFLICT (account_id, key) DO UPDATE
             SET event_id = EXCLUDED.event_id, event_body = EXCLUDED.event_body, created_at = now()
             WHERE idempotency_keys.created_at < now() - make_interval(secs => $5::double precision / 1000)
           RETURNING event_id, event_body, true AS first
         )
         SELECT event_id, event_body, first FROM claimed
         UNION ALL
         SELECT event_id, event_body, false AS first FROM idempotency_keys
         WHERE account_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM claimed)`,
        [accountId, key, eventId, eventBody, IDEMPOTENCY_WINDOW_MS],
      );
      // Empty when a concurrent request with the same key committed after this statement's snapshot.
      const [row] =
        rows.length > 0
          ? rows
          : await this.dataSource.query<Row[]>(
              `SELECT event_id, event_body, false AS first FROM idempotency_keys
               WHERE account_id = $1 AND key = $2`,
              [accountId, key],
            );
      if (row) return { eventId: row.event_id, eventBody: row.event_body, first: row.first };
      // The row went away between the two statements (an expired key purged by retention):
      // the key is free again, so the next round claims it. A handful of rounds is plenty.
      if (attempt >= MAX_CLAIM_ROUNDS) {
        throw new Error(`Idempotency key ${key} kept changing hands; gave up claiming it`);
      }
    }
  }
}
