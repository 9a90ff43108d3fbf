import { Kafka, Partitioners, Producer } from 'kafkajs';
import { Stack, WebhookReceiver, eventually, sleep, uniqueAccountId } from '@libs/testing';

describe('poison messages and worker restarts (e2e)', () => {
  let stack: Stack;
  let producer: Producer;
  const receiver = new WebhookReceiver();
  const account = uniqueAccountId('resilient');

  const publish = async (count: number, label: string): Promise<string[]> => {
    const ids: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const answer = await stack.api.post<{ id: string }>('/v1/events', {
        type: 'user.created',
        account_id: account,
        data: { label, index },
      });
      expect(answer.status).toBe(202);
      ids.push(answer.body.id);
    }
    return ids;
  };
  const deliveredIds = () =>
    receiver.requestsTo('/hook').map((request) => String(request.headers['webhook-id']));

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start();
    const created = await stack.api.post('/v1/webhooks', {
      account_id: account,
      url: receiver.url('/hook'),
    });
    expect(created.status).toBe(201);
    producer = new Kafka({ brokers: stack.env.KAFKA_BROKERS.split(',') }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await stack?.stop();
    await receiver.stop();
  });

  it('skips poison messages without blocking the partition', async () => {
    // Same key as the account's events, so the same partition: a stuck offset would block them.
    await producer.send({
      topic: stack.env.KAFKA_TOPIC,
      acks: -1,
      messages: [
        { key: account, value: 'not json at all' },
        { key: account, value: null },
        { key: account, value: JSON.stringify({ type: 42, account_id: account }) },
        { key: account, value: Buffer.from([0, 1, 2, 3]) },
      ],
    });
    const ids = await publish(2, 'after-poison');
    await eventually(() => expect(deliveredIds()).toEqual(ids));
    expect(stack.worker.logs()).toMatch(/Dead-lettering the message at .*not JSON/);
  });

  it('does not deliver again what a restarted worker had committed', async () => {
    const before = await publish(5, 'before-restart');
    await eventually(() => expect(deliveredIds()).toEqual(expect.arrayContaining(before)));
    const delivered = deliveredIds().length;

    expect(await stack.restartWorker()).not.toMatchObject({ signal: 'SIGKILL' });
    const after = await publish(3, 'after-restart');
    await eventually(() => expect(deliveredIds()).toEqual(expect.arrayContaining(after)));
    await sleep(1500);
    expect(deliveredIds()).toHaveLength(delivered + after.length);
    expect(new Set(deliveredIds()).size).toBe(deliveredIds().length);
  });

  it('finishes in-flight deliveries on SIGTERM, and the next worker picks up the rest', async () => {
    receiver.reply('/hook', () => ({ delayMs: 200 }));
    const delivered = deliveredIds().length;
    const ids = await publish(10, 'during-shutdown');
    await eventually(() => expect(deliveredIds().length).toBeGreaterThan(delivered));

    const exit = await stack.restartWorker();
    expect(exit).not.toMatchObject({ signal: 'SIGKILL' });
    await eventually(() => expect(deliveredIds()).toEqual(expect.arrayContaining(ids)));
    await sleep(1000);
    const duringShutdown = deliveredIds().slice(delivered);
    expect(duringShutdown).toEqual(ids);
  });
});
