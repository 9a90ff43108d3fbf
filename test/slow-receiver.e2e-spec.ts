/** Fault suite: one account's receiver slower than any parking window ever was. */
import {
  Stack,
  WebhookReceiver,
  arrivalsOf,
  eventually,
  orderViolations,
  sequencedEvents,
  subscribe,
  uniqueAccountId,
} from '@libs/testing';

describe('a receiver slower than any parking window (e2e)', () => {
  const receiver = new WebhookReceiver();
  let stack: Stack;

  beforeAll(async () => {
    await receiver.start();
    // Each first attempt times out after 3.2 s: the lane's 20 held events take over 60 s,
    // longer than parked attempts used to wait before the scheduler took them out of order.
    stack = await Stack.start({
      DELIVERY_TIMEOUT_MS: '3200',
      RETRY_SCHEDULE: '3600',
      RETRY_POLL_INTERVAL_MS: '500',
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it("still makes the account's first attempts one at a time, in Kafka order", async () => {
    const account = uniqueAccountId('slow');
    await subscribe(stack, receiver, [account]);
    receiver.reply(`/${account}`, () => ({ hang: true }));
    const ids = await stack.produce(sequencedEvents([account], 24));

    await eventually(() => expect(receiver.requests.length).toBe(ids.length), {
      timeoutMs: 150_000,
      intervalMs: 1000,
    });
    const arrivals = arrivalsOf(receiver.requests);
    const gaps = receiver.requests
      .slice(1)
      .map((request, index) => request.receivedAt - receiver.requests[index].receivedAt);
    console.log(
      `[faults] slow receiver: ${ids.length} first attempts over ` +
        `${((receiver.requests.at(-1)?.receivedAt ?? 0) - receiver.requests[0].receivedAt) / 1000} s, ` +
        `smallest gap ${Math.min(...gaps)} ms, order violations ${orderViolations(arrivals).length}`,
    );
    expect(arrivals.map((arrival) => arrival.seq)).toEqual(ids.map((_, seq) => seq));
    // One after another: each starts once the previous timed out.
    expect(Math.min(...gaps)).toBeGreaterThan(3000);
  }, 240_000);
});
