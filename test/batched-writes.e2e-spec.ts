import { Stack, WebhookReceiver, eventually, uniqueAccountId } from '@libs/testing';

/**
 * The api produces concurrent events together and the worker stores them together: what
 * travels in one batch must not fail because of what travels beside it.
 */
describe('batched writes under mixed load (e2e)', () => {
  let stack: Stack;
  const receiver = new WebhookReceiver();
  const account = uniqueAccountId('batched');

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start();
    const created = await stack.api.post('/v1/webhooks', {
      account_id: account,
      url: receiver.url('/batched'),
    });
    expect(created.status).toBe(201);
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('accepts and delivers large events sent at once with small ones (one account, one partition)', async () => {
    // Eight events near the 256 KB limit are 2 MB for one partition, over the broker's 1 MB
    // limit on a record batch had they shared one produce request.
    const large = Array.from({ length: 8 }, (_, index) => ({
      type: 'file.uploaded',
      account_id: account,
      data: { index, blob: 'x'.repeat(240 * 1024) },
    }));
    const small = Array.from({ length: 40 }, (_, index) => ({
      type: 'user.created',
      account_id: account,
      data: { index },
    }));
    const answers = await Promise.all(
      [...large, ...small].map((event) => stack.api.post<{ id: string }>('/v1/events', event)),
    );
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 202));
    const ids = new Set(answers.map((answer) => answer.body.id));
    await eventually(
      () => {
        const delivered = new Set(
          receiver.requestsTo('/batched').map((request) => request.headers['webhook-id']),
        );
        expect([...ids].filter((id) => !delivered.has(id))).toEqual([]);
      },
      { timeoutMs: 60_000 },
    );
  });
});
