/** Fault suite: Postgres cut off for a minute under load, through a TCP proxy. */
import { Kafka, logLevel } from 'kafkajs';
import {
  Stack,
  TcpProxy,
  WebhookReceiver,
  arrivalsOf,
  countOf,
  eventually,
  orderViolations,
  sleep,
  subscribe,
  uniqueAccountId,
} from '@libs/testing';

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
      // What needs Postgres answers 503, retry later (not 500: an outage is not a bug).
      const history = await stack.api.get<{ message: string }>('/v1/deliveries?limit=1');
      expect(history.status).toBe(503);
      expect(history.body.message).toMatch(/database is unavailable/);
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
      // Every delivery's attempt is in the history (the last ones recorded a moment after
      // their arrivals).
      await eventually(async () => {
        const page = await stack.api.get<{ data: { status: string }[] }>(
          `/v1/deliveries?account_id=${accounts[0]}&limit=100`,
        );
        expect(page.body.data.length).toBeGreaterThan(0);
        expect(page.body.data.every((delivery) => delivery.status === 'succeeded')).toBe(true);
      });
    } finally {
      await admin.disconnect();
    }
  }, 300_000);
});
