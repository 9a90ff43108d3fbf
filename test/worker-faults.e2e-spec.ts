import { Kafka, logLevel } from 'kafkajs';
import {
  RawEvent,
  ReceivedRequest,
  Stack,
  TcpProxy,
  WebhookReceiver,
  eventually,
  sleep,
  uniqueAccountId,
} from '@libs/testing';

/**
 * The worker's fault suite: crashes, members joining and leaving, a database outage. Each
 * scenario prints its figures; the README's Reliability section quotes the last run.
 */

interface Arrival {
  eventId: string;
  account: string;
  seq: number;
}

function arrivalsOf(requests: ReceivedRequest[]): Arrival[] {
  return requests.map((request) => {
    const body = JSON.parse(request.body) as { account_id: string; data: { seq: number } };
    return {
      eventId: String(request.headers['webhook-id']),
      account: body.account_id,
      seq: body.data.seq,
    };
  });
}

/** `perAccount` events for each account, numbered per account, interleaved across accounts. */
function sequencedEvents(accounts: string[], perAccount: number): RawEvent[] {
  const events: RawEvent[] = [];
  for (let seq = 0; seq < perAccount; seq += 1) {
    for (const account of accounts) {
      events.push({ type: 'order.placed', account_id: account, data: { seq } });
    }
  }
  return events;
}

/** Accounts whose first arrivals did not come in their Kafka order, with the first misstep. */
function orderViolations(arrivals: Arrival[]): string[] {
  const seen = new Set<string>();
  const lastSeq = new Map<string, number>();
  const violations: string[] = [];
  for (const arrival of arrivals) {
    if (seen.has(arrival.eventId)) continue;
    seen.add(arrival.eventId);
    const last = lastSeq.get(arrival.account) ?? -1;
    if (arrival.seq !== last + 1) {
      violations.push(`${arrival.account}: ${arrival.seq} after ${last}`);
    }
    lastSeq.set(arrival.account, Math.max(last, arrival.seq));
  }
  return violations;
}

async function subscribe(stack: Stack, receiver: WebhookReceiver, accounts: string[]) {
  for (const account of accounts) {
    const created = await stack.api.post('/v1/webhooks', {
      account_id: account,
      url: receiver.url(`/${account}`),
    });
    expect(created.status).toBe(201);
  }
}

function countOf(pattern: RegExp, text: string): number {
  return (text.match(new RegExp(pattern.source, 'g')) ?? []).length;
}

describe('a worker killed mid-stream (e2e)', () => {
  const receiver = new WebhookReceiver();
  let stack: Stack;

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({ WORKER_CONCURRENCY: '10' });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('loses nothing when SIGKILLed: the other worker takes over, duplicates bounded by the work in flight', async () => {
    const accounts = Array.from({ length: 40 }, () => uniqueAccountId('kill'));
    await subscribe(stack, receiver, accounts);
    const survivor = await stack.addWorker();
    for (const account of accounts) {
      receiver.reply(`/${account}`, () => ({ delayMs: 5 }));
    }
    const ids = await stack.produce(sequencedEvents(accounts, 50));

    await eventually(() => expect(receiver.requests.length).toBeGreaterThan(ids.length / 4), {
      timeoutMs: 60_000,
    });
    const killedAt = receiver.requests.length;
    await stack.worker.stop('SIGKILL');

    await eventually(
      () =>
        expect(new Set(arrivalsOf(receiver.requests).map((a) => a.eventId)).size).toBe(ids.length),
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    const arrivals = arrivalsOf(receiver.requests);
    const duplicates = arrivals.length - new Set(arrivals.map((a) => a.eventId)).size;
    const outOfOrder = orderViolations(arrivals);
    console.log(
      `[faults] SIGKILL: ${ids.length} events, ${accounts.length} accounts; killed after ${killedAt} ` +
        `arrivals; all ${ids.length} delivered; ${duplicates} duplicates; ` +
        `${outOfOrder.length} accounts with a first arrival out of order (in-flight attempts become retries)`,
    );
    // A duplicate is an attempt the killed worker made but had not recorded: at most one per
    // delivery slot (10) plus what its lanes held (10 slots x 20).
    expect(duplicates).toBeLessThanOrEqual(210);
    expect(survivor.alive).toBe(true);
  }, 240_000);
});

describe('workers joining and leaving mid-stream (e2e)', () => {
  const receiver = new WebhookReceiver();
  let stack: Stack;

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start();
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('delivers every event, each account in Kafka order, while the group changes three times', async () => {
    const accounts = Array.from({ length: 30 }, () => uniqueAccountId('churn'));
    await subscribe(stack, receiver, accounts);
    // Slow enough answers (10 slots x 5 per second per worker) that the group changes mid-stream.
    for (const account of accounts) {
      receiver.reply(`/${account}`, () => ({ delayMs: 200 }));
    }
    const ids = await stack.produce(sequencedEvents(accounts, 60));
    const progress = () => receiver.requests.length;
    const reach = (count: number) =>
      eventually(() => expect(progress()).toBeGreaterThanOrEqual(count), { timeoutMs: 60_000 });

    await reach(150);
    const second = await stack.addWorker();
    const joinedAt = progress();
    await reach(700);
    const third = await stack.addWorker();
    const thirdAt = progress();
    await reach(1100);
    const leftAt = progress();
    expect(await stack.worker.stop('SIGTERM')).not.toMatchObject({ signal: 'SIGKILL' });

    await eventually(
      () =>
        expect(new Set(arrivalsOf(receiver.requests).map((a) => a.eventId)).size).toBe(ids.length),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const arrivals = arrivalsOf(receiver.requests);
    const duplicates = arrivals.length - new Set(arrivals.map((a) => a.eventId)).size;
    console.log(
      `[faults] join/leave: ${ids.length} events, ${accounts.length} accounts; joins at ${joinedAt} ` +
        `and ${thirdAt} arrivals, a graceful leave at ${leftAt}; all delivered; ` +
        `${duplicates} duplicates; order violations: ${orderViolations(arrivals).length}`,
    );
    expect(orderViolations(arrivals)).toEqual([]);
    // Claims in Postgres keep a recorded first attempt from being made again by the next owner.
    expect(duplicates).toBe(0);
    expect(second.alive && third.alive).toBe(true);
    expect(leftAt).toBeLessThan(ids.length);
  }, 240_000);
});

describe('Postgres unreachable for a minute under load (e2e)', () => {
  const receiver = new WebhookReceiver();
  let proxy: TcpProxy;
  let stack: Stack;

  beforeAll(async () => {
    await receiver.start();
    const server = new URL(process.env.DATABASE_URL ?? '');
    proxy = await new TcpProxy(server.hostname, Number(server.port || 5432)).start();
    stack = await Stack.start(
      { RETRY_POLL_INTERVAL_MS: '500' },
      {
        databaseUrlForApps: (url) => {
          const proxied = new URL(url);
          proxied.hostname = '127.0.0.1';
          proxied.port = String(proxy.port);
          return proxied.toString();
        },
      },
    );
  });

  afterAll(async () => {
    await stack?.stop();
    await proxy?.stop();
    await receiver.stop();
  });

  it('waits without being evicted, commits nothing unstored, and delivers everything once it is back', async () => {
    const accounts = Array.from({ length: 5 }, () => uniqueAccountId('outage'));
    await subscribe(stack, receiver, accounts);
    const admin = new Kafka({
      brokers: stack.env.KAFKA_BROKERS.split(','),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    const members = async () =>
      (await admin.describeGroups([stack.env.KAFKA_CONSUMER_GROUP])).groups[0].members.map(
        (member) => member.memberId,
      );
    try {
      let seq = 0;
      const published: string[] = [];
      const publishFor = async (ms: number) => {
        for (const deadline = Date.now() + ms; Date.now() < deadline; seq += 1) {
          const answer = await stack.api.post<{ id: string }>('/v1/events', {
            type: 'order.placed',
            account_id: accounts[seq % accounts.length],
            data: { seq: Math.floor(seq / accounts.length) },
          });
          expect(answer.status).toBe(202);
          published.push(answer.body.id);
          await sleep(20);
        }
      };

      await publishFor(3000);
      await eventually(() => expect(receiver.requests.length).toBeGreaterThan(0));
      const membersBefore = await members();
      const rejoinsBefore = countOf(/group is rebalancing|Crash/i, stack.worker.logs());

      proxy.cut();
      const cutAt = published.length;
      await publishFor(5000);
      // The worker still answers its scrape (without the gauges read from Postgres).
      const scrape = await fetch(`${stack.worker.url}/metrics`);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(/^webhook_events_consumed_total \d+/m);
      await publishFor(55_000);
      const duringOutage = published.length - cutAt;
      proxy.restore();
      const restoredAt = Date.now();
      await publishFor(2000);

      const expected = new Set(published);
      await eventually(
        () =>
          expect(new Set(arrivalsOf(receiver.requests).map((a) => a.eventId))).toEqual(expected),
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      const caughtUpMs = Date.now() - restoredAt;
      const arrivals = arrivalsOf(receiver.requests);
      const duplicates = arrivals.length - expected.size;
      const rejoins = countOf(/group is rebalancing|Crash/i, stack.worker.logs()) - rejoinsBefore;
      console.log(
        `[faults] Postgres outage: 60 s cut under load; ${duringOutage} events accepted during it, ` +
          `${published.length} in all; all delivered ${caughtUpMs} ms after the database came back; ` +
          `${duplicates} duplicates; group rejoins during the outage: ${rejoins}`,
      );
      expect(await members()).toEqual(membersBefore);
      expect(rejoins).toBe(0);
      expect(stack.worker.alive && stack.apiProcess.alive).toBe(true);
      expect(orderViolations(arrivals)).toEqual([]);
      // Every delivery's attempt is in the history: the outcome was stored before the commit.
      const page = await stack.api.get<{ data: { status: string }[] }>(
        `/v1/deliveries?account_id=${accounts[0]}&limit=100`,
      );
      expect(page.body.data.length).toBeGreaterThan(0);
      expect(page.body.data.every((delivery) => delivery.status === 'succeeded')).toBe(true);
    } finally {
      await admin.disconnect();
    }
  }, 300_000);
});

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
