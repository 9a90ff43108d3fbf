import { DataSource } from 'typeorm';
import {
  IsolatedDeliveries,
  openIsolatedDeliveries,
  uniqueAccountId,
  insertTestWebhook,
  testIncomingEvent,
} from '@libs/testing';
import { DeliveryRepository } from './delivery.repository';

const TAKERS = 8;

describe('Per-webhook rate limits on a real Postgres', () => {
  let isolated: IsolatedDeliveries;
  let dataSource: DataSource;
  let deliveries: DeliveryRepository;
  const accountId = uniqueAccountId('rate');

  const newEvent = () => testIncomingEvent(accountId);

  const insertWebhook = (rateLimitPerS: number | null) =>
    insertTestWebhook(dataSource, accountId, { rateLimitPerS });

  const deliveryRow = async (id: string) =>
    (
      await dataSource.query(
        `SELECT status, next_attempt_at, attempt_count, claim_token, lease_expires_at,
                manual_attempt_requested_at,
                (SELECT count(*)::int FROM delivery_attempts WHERE delivery_id = $1) AS attempts
         FROM deliveries WHERE id = $1`,
        [id],
      )
    )[0];

  beforeAll(async () => {
    isolated = await openIsolatedDeliveries(TAKERS);
    ({ dataSource, deliveries } = isolated);
  });

  afterAll(async () => {
    await isolated?.close();
  });

  it('never lets concurrent takers exceed the burst plus the rate times the time', async () => {
    const webhookId = await insertWebhook(20);
    const request = { webhookId, ratePerS: 20, burst: 20 };
    const grants: number[] = [];
    const refusals: number[] = [];
    const started = Date.now();
    const runFor = 1500;
    await Promise.all(
      Array.from({ length: TAKERS }, async () => {
        while (Date.now() - started < runFor) {
          const [waitMs] = await deliveries.takeRateTokens([request]);
          if (waitMs === 0) grants.push(Date.now());
          else refusals.push(waitMs);
        }
      }),
    );
    const elapsedS = (Date.now() - started) / 1000;
    // Every grant was decided within [started, now]: the bucket started full.
    expect(grants.length).toBeLessThanOrEqual(Math.floor(20 + 20 * elapsedS));
    // …and it does let the rate through, not far less (the first second's worth at once).
    expect(grants.length).toBeGreaterThanOrEqual(20 + Math.floor(20 * (runFor / 1000 - 0.5)));
    expect(refusals.length).toBeGreaterThan(0);
    // A refusal says to come back within one token's time.
    expect(Math.max(...refusals)).toBeLessThanOrEqual(1000 / 20 + 1);
    expect(Math.min(...refusals)).toBeGreaterThan(0);
  });

  it('keeps each webhook to its own bucket, several in one statement', async () => {
    const [slow, fast] = [await insertWebhook(1), await insertWebhook(1000)];
    const take = () =>
      deliveries.takeRateTokens([
        { webhookId: slow, ratePerS: 1, burst: 1 },
        { webhookId: fast, ratePerS: 1000, burst: 1000 },
      ]);
    expect(await take()).toEqual([0, 0]);
    const [slowWait, fastWait] = await take();
    expect(slowWait).toBeGreaterThan(500);
    expect(slowWait).toBeLessThanOrEqual(1000);
    expect(fastWait).toBe(0);
  });

  it('claims carry the limit, and a delivery given back keeps its state and counts no attempt', async () => {
    const webhookId = await insertWebhook(5);
    const [first] = await deliveries.recordEvent(newEvent(), [webhookId]);
    const claimed = await deliveries.claimFirstAttempt(first, 60_000);
    expect(claimed?.webhook.rateLimitPerS).toBe(5);
    if (claimed === null) throw new Error('expected a claim');
    await deliveries.releaseUnattempted(claimed, null);
    // Still the lane's first attempt: pending, no due time, so no scheduler takes it.
    expect(await deliveryRow(first)).toMatchObject({
      status: 'pending',
      next_attempt_at: null,
      attempt_count: 0,
      claim_token: null,
      lease_expires_at: null,
      attempts: 0,
    });
    expect(await deliveries.claimDueRetries(100, 60_000)).toEqual([]);
    // The stale claim can no longer give it back or record over a new one.
    const again = await deliveries.claimFirstAttempt(first, 60_000);
    expect(again).not.toBeNull();
    await deliveries.releaseUnattempted(claimed, new Date());
    expect(await deliveryRow(first)).toMatchObject({ status: 'delivering' });

    // A due retry given back by the scheduler is due again when a token will be there.
    const [retry] = await deliveries.recordEvent(newEvent(), [webhookId]);
    await dataSource.query(
      `UPDATE deliveries SET status = 'retrying', attempt_count = 1, next_attempt_at = now()
       WHERE id = $1`,
      [retry],
    );
    const [due] = (await deliveries.claimDueRetries(100, 60_000)).filter((d) => d.id === retry);
    const retryAt = new Date(Date.now() + 60_000);
    await deliveries.releaseUnattempted(due, retryAt);
    const released = await deliveryRow(retry);
    expect(released).toMatchObject({ status: 'retrying', attempt_count: 1, claim_token: null });
    expect(released.next_attempt_at.getTime()).toBe(retryAt.getTime());
    expect((await deliveries.claimDueRetries(100, 60_000)).map((d) => d.id)).not.toContain(retry);

    // A manual attempt put off stays asked for, from the wait's end, its schedule unchanged.
    expect(await deliveries.requestManualAttempt(retry)).toBe(true);
    const [manual] = await deliveries.claimManualAttempts(10, 60_000);
    expect(manual).toMatchObject({ id: retry, trigger: 'manual' });
    await deliveries.releaseUnattempted(manual, new Date(Date.now() + 60_000));
    const putOff = await deliveryRow(retry);
    expect(putOff).toMatchObject({ status: 'retrying', attempt_count: 1, attempts: 0 });
    expect(putOff.next_attempt_at.getTime()).toBe(retryAt.getTime());
    expect(putOff.manual_attempt_requested_at.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(await deliveries.claimManualAttempts(10, 60_000)).toEqual([]);
  });
});
