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
