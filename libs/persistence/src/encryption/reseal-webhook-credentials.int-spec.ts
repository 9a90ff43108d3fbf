import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { loadEncryptionConfig } from '@libs/config';
import {
  IsolatedDatabase,
  TEST_ENCRYPTION_KEYS,
  createIsolatedDatabase,
  testWebhookCredentials,
  uniqueAccountId,
} from '@libs/testing';
import { dataSourceOptions, runMigrations } from '../data-source';
import { WebhookEntity } from '../entities';
import { migrations } from '../migrations';
import { DeliveryRepository } from '../repositories';
import { RunQuery, resealWebhookCredentials } from './reseal-webhook-credentials';

const MIGRATION = 'EncryptWebhookSecrets1764720000000';
const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

interface Row {
  id: string;
  secret: string;
  previous_secret: string | null;
  headers: Record<string, string>;
}

describe('webhook credentials at rest, on a real Postgres', () => {
  let database: IsolatedDatabase;
  let dataSource: DataSource;
  const query: RunQuery = (sql, parameters) => dataSource.query(sql, parameters);
  const rowOf = async (id: string): Promise<Row> =>
    (
      await dataSource.query(
        `SELECT id, secret, previous_secret, headers FROM webhooks WHERE id = $1`,
        [id],
      )
    )[0];

  /** A webhook row written directly, as the code before encryption at rest stored it. */
  const insertWebhook = async (values: Partial<WebhookEntity> = {}): Promise<string> => {
    const id = randomUUID();
    await dataSource.getRepository(WebhookEntity).insert({
      id,
      accountId: uniqueAccountId('at-rest'),
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['*'],
      description: null,
      headers: { Authorization: 'Bearer legacy-token' },
      secret: 'whsec_legacy',
      previousSecret: 'whsec_older',
      previousSecretExpiresAt: new Date(Date.now() + 3_600_000),
      enabled: true,
      ...values,
    });
    return id;
  };

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    dataSource = await new DataSource(dataSourceOptions(database.url, 4)).initialize();
  });

  afterEach(async () => {
    await dataSource.query(`TRUNCATE webhooks CASCADE`);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  describe('the migration', () => {
    const runAgain = async (keys: Record<string, string>) => {
      await dataSource.query(`DELETE FROM migrations WHERE name = $1`, [MIGRATION]);
      return runMigrations(database.url, loadEncryptionConfig(keys));
    };

    it('encrypts the secrets and header values stored in clear', async () => {
      const id = await insertWebhook();
      expect(await runAgain({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS })).toEqual([MIGRATION]);
      const row = await rowOf(id);
      for (const value of [row.secret, row.previous_secret, row.headers.Authorization]) {
        expect(value).toMatch(/^enc:v1:test-1:/);
      }
      expect(Object.keys(row.headers)).toEqual(['Authorization']);
      const opened = testWebhookCredentials().open({
        id,
        secret: row.secret,
        previousSecret: row.previous_secret,
        previousSecretExpiresAt: new Date(Date.now() + 1000),
        headers: row.headers,
      });
      expect(opened).toEqual({
        secrets: ['whsec_legacy', 'whsec_older'],
        headers: { Authorization: 'Bearer legacy-token' },
      });
    });

    it('leaves the rows as they are in plaintext mode', async () => {
      const id = await insertWebhook();
      await runAgain({ ENCRYPTION_ALLOW_PLAINTEXT: 'true' });
      expect(await rowOf(id)).toMatchObject({
        secret: 'whsec_legacy',
        previous_secret: 'whsec_older',
        headers: { Authorization: 'Bearer legacy-token' },
      });
    });

    it('is undone by decrypting back into clear text', async () => {
      const id = await insertWebhook();
      await runAgain({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS });
      const credentials = testWebhookCredentials();
      const undo = await new DataSource({
        ...dataSourceOptions(database.url, 1),
        migrations: migrations(credentials),
      }).initialize();
      try {
        await undo.undoLastMigration({ transaction: 'each' });
      } finally {
        await undo.destroy();
      }
      expect(await rowOf(id)).toMatchObject({
        secret: 'whsec_legacy',
        previous_secret: 'whsec_older',
        headers: { Authorization: 'Bearer legacy-token' },
      });
      await runMigrations(
        database.url,
        loadEncryptionConfig({ ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }),
      );
    });
  });

  describe('re-encryption', () => {
    const [oldKey, newKeyValue] = [newKey('old'), newKey('new')];
    const before = testWebhookCredentials(oldKey);
    const after = testWebhookCredentials(`${newKeyValue},${oldKey}`);
    const sealedWith = (credentials: typeof before, id: string) => ({
      secret: credentials.sealSecret(id, 'whsec_current'),
      previousSecret: null,
      headers: credentials.sealHeaders(id, { 'X-Key': 'value' }),
    });

    it('moves every row to the current key, in batches, and then has nothing left to do', async () => {
      const ids = await Promise.all(
        Array.from({ length: 7 }, async () => {
          const id = randomUUID();
          await insertWebhook({ id, ...sealedWith(before, id) });
          return id;
        }),
      );
      const legacy = await insertWebhook();
      expect(await resealWebhookCredentials(query, after, 3)).toEqual({
        resealed: 8,
        conflicts: 0,
        failed: [],
      });
      for (const id of [...ids, legacy]) {
        const row = await rowOf(id);
        const values = [row.secret, ...Object.values(row.headers)];
        expect(values.every((value) => value.startsWith('enc:v1:new:'))).toBe(true);
      }
      expect(await resealWebhookCredentials(query, after, 3)).toEqual({
        resealed: 0,
        conflicts: 0,
        failed: [],
      });
    });

    it('never overwrites a change made meanwhile (a rotation between its read and its write)', async () => {
      const id = randomUUID();
      await insertWebhook({ id, ...sealedWith(before, id) });
      const rotatedSecret = after.sealSecret(id, 'whsec_rotated_meanwhile');
      let interfered = false;
      const racing: RunQuery = async (sql, parameters) => {
        if (!interfered && sql.includes('UPDATE webhooks')) {
          interfered = true;
          await dataSource.query(
            `UPDATE webhooks SET previous_secret = secret, secret = $2 WHERE id = $1`,
            [id, rotatedSecret],
          );
        }
        return query(sql, parameters);
      };
      const report = await resealWebhookCredentials(racing, after);
      expect(report).toEqual({ resealed: 1, conflicts: 0, failed: [] });
      const row = await rowOf(id);
      const opened = after.open({
        id,
        secret: row.secret,
        previousSecret: row.previous_secret,
        previousSecretExpiresAt: new Date(Date.now() + 1000),
        headers: row.headers,
      });
      expect(opened.secrets).toEqual(['whsec_rotated_meanwhile', 'whsec_current']);
      expect(row.previous_secret).toMatch(/^enc:v1:new:/);
    });

    it('reports the rows it cannot open and re-encrypts the others', async () => {
      const lost = testWebhookCredentials(newKey('lost'));
      const lostId = randomUUID();
      await insertWebhook({ id: lostId, ...sealedWith(lost, lostId) });
      const fineId = randomUUID();
      await insertWebhook({ id: fineId, ...sealedWith(before, fineId) });
      const report = await resealWebhookCredentials(query, after);
      expect(report.resealed).toBe(1);
      expect(report.failed).toEqual([
        {
          id: lostId,
          reason:
            'a value is encrypted with key "lost", which ENCRYPTION_KEYS does not list: ' +
            'add that key back after the current one',
        },
      ]);
      expect((await rowOf(fineId)).secret).toMatch(/^enc:v1:new:/);
    });
  });

  it('claims a delivery whose credentials cannot be opened without failing the others', async () => {
    const credentials = testWebhookCredentials();
    const account = uniqueAccountId('claim');
    const readableId = randomUUID();
    await insertWebhook({
      id: readableId,
      accountId: account,
      secret: credentials.sealSecret(readableId, 'whsec_readable'),
      previousSecret: null,
      headers: credentials.sealHeaders(readableId, { 'X-Token': 'readable' }),
    });
    const tamperedId = randomUUID();
    const sealed = credentials.sealSecret(tamperedId, 'whsec_tampered');
    await insertWebhook({
      id: tamperedId,
      accountId: account,
      // Another row's sealed secret: it must not open here.
      secret: credentials.sealSecret(readableId, 'whsec_copied'),
      previousSecret: sealed,
      headers: {},
    });
    const deliveries = new DeliveryRepository(dataSource, credentials);
    const ids = await deliveries.recordEvent(
      {
        id: `evt-${randomUUID()}`,
        accountId: account,
        type: 'user.created',
        body: '{}',
        occurredAt: new Date(),
        kafkaPartition: 0,
        kafkaOffset: '1',
      },
      [readableId, tamperedId],
    );
    const claimed = await Promise.all(ids.map((id) => deliveries.claimFirstAttempt(id, 60_000)));
    expect(claimed.map((delivery) => delivery?.webhook)).toEqual([
      expect.objectContaining({
        id: readableId,
        secrets: ['whsec_readable'],
        headers: { 'X-Token': 'readable' },
        credentialsError: null,
      }),
      expect.objectContaining({
        id: tamperedId,
        secrets: [],
        headers: {},
        credentialsError: expect.stringMatching(/failed authentication/),
      }),
    ]);
  });
});
