import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Consumer, IHeaders, Kafka, Partitioners, Producer, logLevel } from 'kafkajs';
import { DEAD_LETTER_HEADERS, deadLetterTopic } from '@libs/contracts';
import { Stack, WebhookReceiver, eventually, uniqueAccountId } from '@libs/testing';

interface DeadLetter {
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

function headerText(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([name, value]) => [name, String(value)]),
  );
}

describe('foreign messages, shared event ids and unstorable answers (e2e)', () => {
  const receiver = new WebhookReceiver();
  let stack: Stack;
  let kafka: Kafka;
  let producer: Producer;
  let dlqConsumer: Consumer;
  const deadLetters: DeadLetter[] = [];

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({ MAX_EVENT_BYTES: '16384' });
    kafka = new Kafka({ brokers: stack.env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    dlqConsumer = kafka.consumer({ groupId: `${stack.env.KAFKA_CONSUMER_GROUP}-dlq-reader` });
    await dlqConsumer.connect();
    await dlqConsumer.subscribe({
      topic: deadLetterTopic(stack.env.KAFKA_TOPIC),
      fromBeginning: true,
    });
    await dlqConsumer.run({
      eachMessage: async ({ message }) => {
        deadLetters.push({
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: headerText(message.headers),
        });
      },
    });
  });

  afterAll(async () => {
    await dlqConsumer?.disconnect();
    await producer?.disconnect();
    await stack?.stop();
    await receiver.stop();
  });

  it('sets every kind of poison aside on <topic>.dlq with its reason and source, and reads on', async () => {
    const account = uniqueAccountId('poison');
    const created = await stack.api.post('/v1/webhooks', {
      account_id: account,
      url: receiver.url('/poison'),
    });
    expect(created.status).toBe(201);
    const valid = (data: Record<string, unknown>) => ({
      id: `evt-${data.label}-${account}`.slice(0, 128),
      type: 'user.created',
      account_id: account,
      data,
      timestamp: new Date().toISOString(),
    });
    const deep = JSON.stringify(valid({ label: 'deep' })).replace(
      '"data":{',
      `"data":{"nest":${'['.repeat(5000)}${']'.repeat(5000)},`,
    );
    const poison: { value: Buffer | string | null; code: string }[] = [
      { value: 'not json at all', code: 'not_json' },
      { value: null, code: 'empty' },
      { value: JSON.stringify({ type: 42, account_id: account }), code: 'invalid_event' },
      { value: Buffer.from([0xff, 0x00, 0xfe]), code: 'not_json' },
      { value: deep, code: 'too_deep' },
      {
        value: JSON.stringify(valid({ label: 'big', pad: 'x'.repeat(20_000) })),
        code: 'too_large',
      },
    ];
    const topic = stack.env.KAFKA_TOPIC;
    // Same key as the account's events: a stuck offset would hold back the event after them.
    const [sent] = await producer.send({
      topic,
      acks: -1,
      messages: [
        ...poison.map(({ value }) => ({ key: account, value, headers: { origin: 'legacy' } })),
        { key: account, value: JSON.stringify(valid({ label: 'after' })) },
      ],
    });

    await eventually(() => expect(receiver.requestsTo('/poison')).toHaveLength(1), {
      timeoutMs: 30_000,
    });
    await eventually(() => expect(deadLetters).toHaveLength(poison.length), { timeoutMs: 30_000 });
    const firstOffset = BigInt(sent.baseOffset ?? '0');
    deadLetters.forEach((letter, index) => {
      expect(letter.key).toBe(account);
      expect(letter.headers).toMatchObject({
        origin: 'legacy',
        [DEAD_LETTER_HEADERS.reasonCode]: poison[index].code,
        [DEAD_LETTER_HEADERS.sourceTopic]: topic,
        [DEAD_LETTER_HEADERS.sourcePartition]: String(sent.partition),
        [DEAD_LETTER_HEADERS.sourceOffset]: String(firstOffset + BigInt(index)),
      });
      expect(letter.headers[DEAD_LETTER_HEADERS.reason].length).toBeGreaterThan(5);
      const original = poison[index].value;
      expect(letter.value === null ? null : letter.value.toString('base64')).toBe(
        original === null ? null : Buffer.from(original).toString('base64'),
      );
    });
    const metrics = await stack.worker.metrics();
    for (const code of ['not_json', 'empty', 'invalid_event', 'too_deep', 'too_large']) {
      const count = poison.filter((entry) => entry.code === code).length;
      expect(metrics).toContain(`webhook_invalid_messages_total{reason="${code}"} ${count}`);
    }
    // The operator's view: `npm run dlq -- inspect` lists them with their reasons.
    const root = join(__dirname, '..');
    const { stdout } = await promisify(execFile)(
      join(root, 'node_modules', '.bin', 'tsx'),
      [join(root, 'scripts', 'dlq.ts'), 'inspect'],
      { cwd: root, env: { PATH: process.env.PATH ?? '', ...stack.env }, timeout: 60_000 },
    );
    expect(stdout).toContain(`${poison.length} message(s) on the dead-letter topic`);
    expect(stdout).toMatch(/nests deeper than 64 levels/);
    expect(stdout).toContain(`from ${topic}[${sent.partition}]@${firstOffset}`);
    console.log(
      `[faults] dead letters: ${poison.length} poison messages set aside with reason, partition and ` +
        `offset; the event after them delivered`,
    );
  });

  it('keeps the same event id of two accounts as two events, each delivered with that id', async () => {
    const [first, second] = [uniqueAccountId('twin'), uniqueAccountId('twin')];
    for (const account of [first, second]) {
      const created = await stack.api.post('/v1/webhooks', {
        account_id: account,
        url: receiver.url(`/${account}`),
      });
      expect(created.status).toBe(201);
    }
    const id = `shared-${Date.now()}`;
    for (const account of [first, second]) {
      const answer = await stack.api.post('/v1/events', {
        id,
        type: 'user.created',
        account_id: account,
        data: { owner: account },
      });
      expect(answer).toMatchObject({ status: 202, body: { id } });
    }
    for (const account of [first, second]) {
      await eventually(() => expect(receiver.requestsTo(`/${account}`)).toHaveLength(1));
      const [request] = receiver.requestsTo(`/${account}`);
      expect(request.headers['webhook-id']).toBe(id);
      expect(JSON.parse(request.body)).toMatchObject({
        account_id: account,
        data: { owner: account },
      });
    }
    const ambiguous = await stack.api.get(`/v1/events/${id}`);
    expect(ambiguous.status).toBe(409);
    const named = await stack.api.get<{ account_id: string; deliveries: unknown[] }>(
      `/v1/events/${id}?account_id=${second}`,
    );
    expect(named.status).toBe(200);
    expect(named.body).toMatchObject({ account_id: second, deliveries: [expect.anything()] });
  });

  it("records an answer Postgres could not store as text, and delivers the event's other webhooks", async () => {
    const account = uniqueAccountId('binary');
    for (const path of ['/binary', '/fine']) {
      const created = await stack.api.post('/v1/webhooks', {
        account_id: account,
        url: receiver.url(`/${account}${path}`),
      });
      expect(created.status).toBe(201);
    }
    receiver.reply(`/${account}/binary`, () => ({
      status: 500,
      body: 'before\u0000after \udc00',
      headers: { 'content-type': 'application/octet-stream' },
    }));
    const published = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'user.created',
      account_id: account,
      data: {},
    });
    expect(published.status).toBe(202);
    await eventually(() => expect(receiver.requestsTo(`/${account}/fine`)).toHaveLength(1));
    const deliveries = await eventually(async () => {
      const page = await stack.api.get<{
        data: { id: string; status: string; attempt_count: number }[];
      }>(`/v1/deliveries?account_id=${account}`);
      expect(page.body.data.map((delivery) => delivery.status).sort()).toEqual([
        'retrying',
        'succeeded',
      ]);
      return page.body.data;
    });
    const failing = deliveries.find((delivery) => delivery.status === 'retrying');
    const detail = await stack.api.get<{
      attempts: { response_status: number; response_body: string }[];
    }>(`/v1/deliveries/${failing?.id}`);
    expect(detail.body.attempts).toHaveLength(1);
    expect(detail.body.attempts[0].response_status).toBe(500);
    expect(detail.body.attempts[0].response_body).toMatch(/before.*after|could not be stored/);
  });
});
