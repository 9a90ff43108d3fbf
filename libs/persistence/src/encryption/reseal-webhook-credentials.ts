import { SealedValueError, StoredWebhookCredentials, WebhookCredentials } from '@libs/secrets';

/** Runs one SQL statement: a DataSource's or a migration's QueryRunner's `query`. */
export type RunQuery = (sql: string, parameters: unknown[]) => Promise<unknown[]>;

export interface ResealReport {
  /** Rows written again with the current key. */
  resealed: number;
  /** Rows changed by someone else between our read and our write, on the last pass. */
  conflicts: number;
  /** Rows that could not be opened (a key no longer listed, a damaged value), with why. */
  failed: { id: string; reason: string }[];
}

export interface StoredRow {
  id: string;
  secret: string;
  previous_secret: string | null;
  headers: Record<string, string>;
}

export function fromRow(row: StoredRow): StoredWebhookCredentials {
  return {
    id: row.id,
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretExpiresAt: null,
    headers: row.headers,
  };
}

const MAX_PASSES = 5;

/**
 * Seals every webhook's secrets and header values with the current key: values in clear and
 * values under older keys. Deleted webhooks too: their secrets are in the table all the same.
 *
 * Safe beside running apps: rows are read in batches and each is written on its own, only if
 * it still holds what was read (a rotation or a PATCH meanwhile wins, and the row is looked at
 * again on the next pass). Idempotent: rows already under the current key are not selected.
 */
export async function resealWebhookCredentials(
  query: RunQuery,
  credentials: WebhookCredentials,
  batchSize = 500,
): Promise<ResealReport> {
  const prefix = credentials.sealingPrefix;
  if (prefix === null) throw new Error('ENCRYPTION_KEYS is not set: there is no key to seal with');
  let resealed = 0;
  const failed = new Map<string, string>();
  for (let pass = 1; ; pass += 1) {
    let conflicts = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = (await query(
        `SELECT id, secret, previous_secret, headers FROM webhooks
         WHERE id > $1 AND (
           NOT starts_with(secret, $2)
           OR NOT starts_with(COALESCE(previous_secret, $2), $2)
           OR EXISTS (SELECT 1 FROM jsonb_each_text(headers) h WHERE NOT starts_with(h.value, $2))
         )
         ORDER BY id LIMIT $3`,
        [after, prefix, batchSize],
      )) as StoredRow[];
      if (rows.length === 0) break;
      after = rows[rows.length - 1].id;
      for (const row of rows) {
        const outcome = await resealRow(query, credentials, row);
        if (outcome === 'resealed') resealed += 1;
        else if (outcome === 'conflict') conflicts += 1;
        else if (outcome !== 'current') failed.set(row.id, outcome.reason);
      }
    }
    if (conflicts === 0 || pass === MAX_PASSES) {
      return { resealed, conflicts, failed: [...failed].map(([id, reason]) => ({ id, reason })) };
    }
  }
}

async function resealRow(
  query: RunQuery,
  credentials: WebhookCredentials,
  row: StoredRow,
): Promise<'resealed' | 'current' | 'conflict' | { reason: string }> {
  let sealed;
  try {
    sealed = credentials.reseal(fromRow(row));
  } catch (error) {
    if (error instanceof SealedValueError) return { reason: error.message };
    throw error;
  }
  if (sealed === null) return 'current';
  const updated = (await query(
    `WITH updated AS (
       UPDATE webhooks SET secret = $2, previous_secret = $3, headers = $4::jsonb
       WHERE id = $1 AND secret = $5 AND previous_secret IS NOT DISTINCT FROM $6
         AND headers = $7::jsonb
       RETURNING id
     )
     SELECT id FROM updated`,
    [
      row.id,
      sealed.secret,
      sealed.previousSecret,
      JSON.stringify(sealed.headers),
      row.secret,
      row.previous_secret,
      JSON.stringify(row.headers),
    ],
  )) as unknown[];
  return updated.length === 1 ? 'resealed' : 'conflict';
}
