import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  IsolatedDeliveries,
  insertTestWebhook,
  openIsolatedDeliveries,
  testIncomingEvent,
  testWebhookCredentials,
  uniqueAccountId,
} from '@libs/testing';
import { DeliveryRepository, IncomingEvent } from './delivery.repository';
import { FirstAttemptRepository, UnstoredDelivery } from './first-attempt.repository';

const POLICY = { failingForMs: 60_000, minFailures: 3 };

function sent(webhookId: string, succeeded = true): UnstoredDelivery {
  return {
    id: randomUUID(),
    webhookId,
    token: randomUUID(),
    leaseMs: null,
    outcome: {
      attemptId: randomUUID(),
      attempt: {
        trigger: 'scheduled',
        startedAt: new Date(),
        durationMs: 3,
        responseStatus: succeeded ? 200 : 500,
        responseBody: succeeded ? 'ok' : 'boom',
        error: succeeded ? null : 'HTTP 500',
      },
      transition: succeeded
        ? { status: 'succeeded' }
        : { status: 'retrying', nextAttemptAt: new Date(Date.now() + 60_000) },
    },
  };
}

describe('FirstAttemptRepository on a real Postgres', () => {
  let isolated: IsolatedDeliveries;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;
  let firstAttempts: FirstAttemptRepository;

  beforeAll(async () => {
    isolated = await openIsolatedDeliveries(2);
    ({ dataSource, deliveries } = isolated);
    firstAttempts = new FirstAttemptRepository(dataSource, testWebhookCredentials(), deliveries);
  });

  afterAll(async () => {
    await isolated?.close();
  });

  async function rows(event: IncomingEvent) {
    return dataSource.query<
      { webhook_id: string; status: string; attempt_count: number; numbers: number[] }[]
    >(
      `SELECT d.webhook_id, d.status, d.attempt_count,
              COALESCE(array_agg(a.number ORDER BY a.number) FILTER (WHERE a.id IS NOT NULL), '{}') AS numbers
       FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
       WHERE d.account_id = $1 AND d.event_id = $2
       GROUP BY d.id ORDER BY d.seq`,
      [event.accountId, event.id],
    );
  }

  async function version(account: string): Promise<bigint> {
    const [looked] = await firstAttempts.look([{ accountId: account, id: null }]);
    return looked.version;
  }

  it("counts each account's webhook changes that route events, not the health the worker writes", async () => {
    const account = uniqueAccountId('counter');
    const other = uniqueAccountId('other');
    await insertTestWebhook(dataSource, other);
    const otherBefore = await version(other);
    expect(await version(account)).toBe(0n);
    const webhook = await insertTestWebhook(dataSource, account);
    const created = await version(account);
    expect(created).toBeGreaterThan(0n);
    await dataSource.query(
      `UPDATE webhooks SET consecutive_failures = 3, failing_since = now(), last_failure_at = now()
       WHERE id = $1`,
      [webhook],
    );
    expect(await version(account)).toBe(created);
    await dataSource.query(`UPDATE webhooks SET enabled = false WHERE id = $1`, [webhook]);
    const disabled = await version(account);
    expect(disabled).toBeGreaterThan(created);
    await dataSource.query(`UPDATE webhooks SET event_types = '{user.*}' WHERE id = $1`, [webhook]);
    const resubscribed = await version(account);
    expect(resubscribed).toBeGreaterThan(disabled);
    await dataSource.query(`DELETE FROM webhooks WHERE id = $1`, [webhook]);
    expect(await version(account)).toBeGreaterThan(resubscribed);
    // Another account's changes are its own.
    expect(await version(other)).toBe(otherBefore);
  });

  it('reads the live webhooks of the accounts asked for, opened, in creation order', async () => {
    const account = uniqueAccountId('routing');
    const first = await insertTestWebhook(dataSource, account, { eventTypes: ['user.*'] });
    const second = await insertTestWebhook(dataSource, account, { rateLimitPerS: 5 });
    await insertTestWebhook(dataSource, account, { enabled: false });
    await insertTestWebhook(dataSource, account, { deletedAt: new Date() });
    const none = uniqueAccountId('none');
    const routing = await firstAttempts.routing([account, none]);
    const live = routing.get(account)?.webhooks ?? [];
    expect(live.map((webhook) => webhook.id)).toEqual([first, second]);
    expect(live[0]).toMatchObject({ eventTypes: ['user.*'], rateLimitPerS: null });
    expect(live[0].secrets).toEqual(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
    expect(live[1].rateLimitPerS).toBe(5);
    expect(routing.get(none)).toEqual({ version: 0n, webhooks: [] });
    expect(routing.get(account)?.version).toBe(await version(account));
  });

  it('stores an event with its deliveries, their outcomes and attempts in one go', async () => {
    const account = uniqueAccountId('record');
    const [a, b, c] = [
      await insertTestWebhook(dataSource, account),
      await insertTestWebhook(dataSource, account),
      await insertTestWebhook(dataSource, account),
    ];
    const event = testIncomingEvent(account);
    const stored = async (events: IncomingEvent[]) =>
      (await firstAttempts.look(events.map((e) => ({ accountId: e.accountId, id: e.id })))).map(
        (looked) => looked.stored,
      );
    expect(await stored([event])).toEqual([false]);
    await firstAttempts.record(
      [{ event, deliveries: [sent(a), sent(b, false), { ...sent(c), outcome: null }] }],
      POLICY,
    );
    expect(await stored([event, testIncomingEvent(account)])).toEqual([true, false]);
    expect(await rows(event)).toEqual([
      { webhook_id: a, status: 'succeeded', attempt_count: 1, numbers: [1] },
      { webhook_id: b, status: 'retrying', attempt_count: 1, numbers: [1] },
      { webhook_id: c, status: 'pending', attempt_count: 0, numbers: [] },
    ]);
    // The pending one is what a lane reading the message again attempts.
    expect(await deliveries.awaitingFirstAttempt(account, event.id)).toHaveLength(1);
    const [health] = await dataSource.query<{ consecutive_failures: number }[]>(
      `SELECT consecutive_failures FROM webhooks WHERE id = $1`,
      [b],
    );
    expect(health.consecutive_failures).toBe(1);
  });

  it('changes nothing when the same items are recorded again (a try whose answer was lost)', async () => {
    const account = uniqueAccountId('again');
    const webhook = await insertTestWebhook(dataSource, account);
    const event = testIncomingEvent(account);
    const items = [{ event, deliveries: [sent(webhook, false)] }];
    await firstAttempts.record(items, POLICY);
    await firstAttempts.record(items, POLICY);
    expect(await rows(event)).toEqual([
      { webhook_id: webhook, status: 'retrying', attempt_count: 1, numbers: [1] },
    ]);
    const [health] = await dataSource.query<{ consecutive_failures: number }[]>(
      `SELECT consecutive_failures FROM webhooks WHERE id = $1`,
      [webhook],
    );
    expect(health.consecutive_failures).toBe(1);
  });

  it('records the outcome of an attempt that was under way when its row was stored', async () => {
    const account = uniqueAccountId('promoted');
    const webhook = await insertTestWebhook(dataSource, account);
    const event = testIncomingEvent(account);
    const underWay = { ...sent(webhook), outcome: null, leaseMs: 60_000 };
    await firstAttempts.record([{ event, deliveries: [underWay] }], POLICY);
    expect(await rows(event)).toEqual([
      { webhook_id: webhook, status: 'delivering', attempt_count: 0, numbers: [] },
    ]);
    // Nobody else may take it meanwhile: it is claimed.
    expect(await deliveries.awaitingFirstAttempt(account, event.id)).toHaveLength(1);
    expect(await deliveries.claimFirstAttempt(underWay.id, 60_000)).toBeNull();
    const outcome = sent(webhook);
    await firstAttempts.record(
      [{ event, deliveries: [{ ...outcome, id: underWay.id, token: underWay.token }] }],
      POLICY,
    );
    expect(await rows(event)).toEqual([
      { webhook_id: webhook, status: 'succeeded', attempt_count: 1, numbers: [1] },
    ]);
  });

  it('merges with a delivery stored or attempted meanwhile: appended, a success never undone', async () => {
    const account = uniqueAccountId('merge');
    const webhook = await insertTestWebhook(dataSource, account);
    // Stored the usual way (another worker read the message too), not attempted yet.
    const event = testIncomingEvent(account);
    await deliveries.storeEvents([event]);
    await firstAttempts.record([{ event, deliveries: [sent(webhook, false)] }], POLICY);
    expect(await rows(event)).toEqual([
      { webhook_id: webhook, status: 'retrying', attempt_count: 1, numbers: [1] },
    ]);
    // A second worker's success after it: appended, and it settles the delivery.
    await firstAttempts.record([{ event, deliveries: [sent(webhook)] }], POLICY);
    expect(await rows(event)).toEqual([
      { webhook_id: webhook, status: 'succeeded', attempt_count: 2, numbers: [1, 2] },
    ]);
    // A late failure after that: appended, the success stays.
    await firstAttempts.record([{ event, deliveries: [sent(webhook, false)] }], POLICY);
    expect(await rows(event)).toEqual([
      { webhook_id: webhook, status: 'succeeded', attempt_count: 3, numbers: [1, 2, 3] },
    ]);
  });

  it('disables a webhook that answered 410 Gone', async () => {
    const account = uniqueAccountId('gone');
    const webhook = await insertTestWebhook(dataSource, account);
    const event = testIncomingEvent(account);
    const gone = sent(webhook, false);
    await firstAttempts.record(
      [
        {
          event,
          deliveries: [
            {
              ...gone,
              outcome: gone.outcome && {
                ...gone.outcome,
                transition: {
                  status: 'discarded',
                  disableWebhookReason: 'receiver answered 410 Gone',
                },
              },
            },
          ],
        },
      ],
      POLICY,
    );
    const [row] = await dataSource.query<{ enabled: boolean }[]>(
      `SELECT enabled FROM webhooks WHERE id = $1`,
      [webhook],
    );
    expect(row.enabled).toBe(false);
    expect((await rows(event))[0].status).toBe('discarded');
  });
});
