import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { IncomingEvent, WebhookEntity } from '@libs/persistence';
import { testWebhookCredentials } from './test-environment';

/**
 * A live webhook written straight to the database, for repository tests, its secret sealed as
 * the test apps seal it. Returns its id.
 */
export async function insertTestWebhook(
  dataSource: DataSource,
  accountId: string,
  columns: Partial<WebhookEntity> = {},
): Promise<string> {
  const id = randomUUID();
  await dataSource.getRepository(WebhookEntity).insert({
    id,
    accountId,
    url: 'http://127.0.0.1:9/hook',
    eventTypes: ['*'],
    description: null,
    headers: {},
    secret: testWebhookCredentials().sealSecret(id, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'),
    enabled: true,
    ...columns,
  });
  return id;
}

/** An event as the worker stores it, with a fresh id, for repository tests. */
export function testIncomingEvent(accountId: string): IncomingEvent {
  return {
    id: `evt-${randomUUID()}`,
    accountId,
    type: 'user.created',
    body: '{"hello":"world"}',
    occurredAt: new Date(),
    kafkaPartition: 0,
    kafkaOffset: '42',
  };
}

/** A delivery's state as tests look at it: its row, and how many attempts it has recorded. */
export async function deliveryState(
  dataSource: DataSource,
  deliveryId: string,
): Promise<{
  status: string;
  attempt_count: number;
  claim_token: string | null;
  attempts: number;
}> {
  const [row] = await dataSource.query(
    `SELECT status, attempt_count, claim_token,
            (SELECT count(*)::int FROM delivery_attempts a WHERE a.delivery_id = d.id) AS attempts
     FROM deliveries d WHERE id = $1`,
    [deliveryId],
  );
  return row;
}
