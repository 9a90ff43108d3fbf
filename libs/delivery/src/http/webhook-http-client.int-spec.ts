import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { TestingModule, Test } from '@nestjs/testing';
import { createServer } from 'node:http';
import { AddressInfo, createServer as createNetServer } from 'node:net';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { Client } from 'pg';
import { ConfigModule, loadConfig } from '@libs/config';
import {
  HostileBehaviour,
  HostileReceiver,
  TEST_ENCRYPTION_KEYS,
  WebhookReceiver,
  eventually,
  requiredVariable,
} from '@libs/testing';
import { DeliveryModule } from '../delivery.module';
import {
  RESPONSE_BODY_LIMIT_BYTES,
  WebhookHttpClient,
  WebhookResponse,
} from './webhook-http-client';

const modules: TestingModule[] = [];
afterAll(() => Promise.all(modules.map((module) => module.close())));

async function clientWith(env: Record<string, string>): Promise<WebhookHttpClient> {
  const config = loadConfig({
    KAFKA_BROKERS: '127.0.0.1:9',
    DATABASE_URL: requiredVariable('DATABASE_URL'),
    ADMIN_API_KEY: 'integration-admin-key',
    DELIVERY_TIMEOUT_MS: '500',
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    ...env,
  });
  const module = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), DeliveryModule],
  }).compile();
  modules.push(module);
  return module.get(WebhookHttpClient);
}

describe('WebhookHttpClient against a real receiver', () => {
  const receiver = new WebhookReceiver();
  let client: WebhookHttpClient;
  const send = (path: string) => client.send({ url: receiver.url(path), headers: {}, body: '{}' });

  beforeAll(async () => {
    await receiver.start();
    client = await clientWith({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  });

  afterAll(() => receiver.stop());

  it('returns the status and the answer', async () => {
    receiver.reply('/ok', () => ({ status: 204, body: '' }));
    const response = await send('/ok');
    expect(response).toMatchObject({ statusCode: 204, error: null, blocked: false });
  });

  it('keeps only the first 20 KB of a large answer', async () => {
    receiver.reply('/large', () => ({ body: 'x'.repeat(5 * RESPONSE_BODY_LIMIT_BYTES) }));
    const response = await send('/large');
    expect(response.statusCode).toBe(200);
    expect(response.responseBody).toHaveLength(RESPONSE_BODY_LIMIT_BYTES);
  });

  it('gives up after DELIVERY_TIMEOUT_MS and says so', async () => {
    receiver.reply('/hang', () => ({ hang: true }));
    const response = await send('/hang');
    expect(response.statusCode).toBeNull();
    expect(response.error).toBe('timeout: no answer within 500 ms');
    expect(response.durationMs).toBeGreaterThanOrEqual(450);
    expect(response.durationMs).toBeLessThan(3000);
  });

  it('does not follow redirects', async () => {
    receiver.reply('/moved', () => ({
      status: 301,
      headers: { location: receiver.url('/target') },
    }));
    const response = await send('/moved');
    expect(response.statusCode).toBe(301);
    expect(response.error).toBe(`HTTP 301: redirect to ${receiver.url('/target')} not followed`);
    expect(receiver.requestsTo('/target')).toHaveLength(0);
  });

  it('reports a refused connection', async () => {
    const closed = new WebhookReceiver();
    await closed.start();
    const url = closed.url('/gone');
    await closed.stop();
    const response = await client.send({ url, headers: {}, body: '{}' });
    expect(response).toMatchObject({
      statusCode: null,
      error: 'connection refused',
      blocked: false,
    });
  });

  it('passes Retry-After on', async () => {
    receiver.reply('/busy', () => ({ status: 429, headers: { 'retry-after': '30' } }));
    expect(await send('/busy')).toMatchObject({
      statusCode: 429,
      retryAfter: '30',
      error: 'HTTP 429',
    });
  });
});

describe('WebhookHttpClient against hostile receivers', () => {
  const receivers: HostileReceiver[] = [];
  const database = new Client({ connectionString: requiredVariable('DATABASE_URL') });
  let client: WebhookHttpClient;

  const hostile = async (behaviour: HostileBehaviour) => {
    const receiver = await new HostileReceiver(behaviour).start();
    receivers.push(receiver);
    return receiver;
  };
  const send = (url: string) => client.send({ url, headers: {}, body: '{}' });
  /** What Postgres gives back after storing the text in a `text` column (it throws if it cannot). */
  const roundTrip = async (text: string | null) =>
    (await database.query<{ body: string | null }>('SELECT $1::text AS body', [text])).rows[0].body;
  const closedAfter = async (receiver: HostileReceiver) => {
    await eventually(() => expect(receiver.openConnections).toBe(0), { timeoutMs: 2000 });
    return receiver.connections.map((connection) => connection.closedAt ?? Infinity);
  };

  beforeAll(async () => {
    await database.connect();
    client = await clientWith({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  });

  afterAll(async () => {
    await Promise.all(receivers.map((receiver) => receiver.stop()));
    await database.end();
  });

  it('stores a binary answer with NUL bytes as readable text Postgres accepts', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0xff]);
    const receiver = await hostile({ kind: 'answer', status: 200, body: png });
    const response = await send(receiver.url('/binary'));
    expect(response).toMatchObject({ statusCode: 200, error: null });
    expect(response.responseBody).toBe('\uFFFDPNG\r\n␚\n␀␀\uFFFD');
    expect(await roundTrip(response.responseBody)).toBe(response.responseBody);
  });

  it('stores a text error answer with NUL and invalid UTF-8 readably', async () => {
    const body = Buffer.concat([Buffer.from('error\u0000code 7: caf'), Buffer.from([0xe9])]);
    const receiver = await hostile({ kind: 'answer', status: 500, body });
    const response = await send(receiver.url('/nul'));
    expect(response).toMatchObject({ statusCode: 500, error: 'HTTP 500' });
    expect(response.responseBody).toBe('error␀code 7: caf\uFFFD');
    expect(await roundTrip(response.responseBody)).toBe(response.responseBody);
  });

  it.each([200, 500])(
    'reads 20 KB of a 50 MB answer with status %i, then hangs up',
    async (status) => {
      const receiver = await hostile({ kind: 'flood', status, bodyBytes: 50 * 1024 * 1024 });
      const response = await send(receiver.url('/flood'));
      expect(response.statusCode).toBe(status);
      expect(response.responseBody).toBe('x'.repeat(RESPONSE_BODY_LIMIT_BYTES));
      expect(response.durationMs).toBeLessThan(400);
      const [closedAt] = await closedAfter(receiver);
      expect(closedAt - receiver.connections[0].acceptedAt).toBeLessThan(1000);
      // Whatever the kernel buffers took before the hang-up, far from the 50 MB offered.
      expect(receiver.totalBytesSent).toBeLessThan(16 * 1024 * 1024);
    },
  );

  it('reads 20 KB of a gzip bomb (50 MB once inflated) and hangs up', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 'x'));
    const receiver = await hostile({
      kind: 'answer',
      status: 200,
      body: bomb,
      headers: { 'content-encoding': 'gzip' },
    });
    const response = await send(receiver.url('/bomb'));
    expect(response.statusCode).toBe(200);
    expect(response.responseBody).toBe('x'.repeat(RESPONSE_BODY_LIMIT_BYTES));
    await closedAfter(receiver);
  });

  it('says so when a compressed answer cannot be inflated', async () => {
    const receiver = await hostile({
      kind: 'answer',
      status: 200,
      body: Buffer.from('this is not gzip'),
      headers: { 'content-encoding': 'gzip' },
    });
    const response = await send(receiver.url('/not-gzip'));
    expect(response).toMatchObject({
      statusCode: null,
      error:
        'answer not readable: its content-encoding does not match its body (HTTP 200, 0 bytes of body received)',
    });
  });

  it.each<[string, HostileBehaviour, string]>([
    [
      'body bytes trickle',
      { kind: 'trickle-body', status: 200, intervalMs: 100 },
      'timeout: answer not finished within 500 ms (HTTP 200, ',
    ],
    [
      'header bytes trickle',
      { kind: 'trickle-headers', status: 200, intervalMs: 100 },
      'timeout: no answer within 500 ms',
    ],
    [
      'the receiver accepts and never answers',
      { kind: 'silent' },
      'timeout: no answer within 500 ms',
    ],
  ])('ends at the deadline, not reset by each byte, when %s', async (_label, behaviour, error) => {
    const receiver = await hostile(behaviour);
    const response = await send(receiver.url('/slow'));
    expect(response.statusCode).toBeNull();
    expect(response.error).toContain(error);
    expect(response.durationMs).toBeGreaterThanOrEqual(450);
    expect(response.durationMs).toBeLessThan(1000);
    const [closedAt] = await closedAfter(receiver);
    expect(closedAt - receiver.connections[0].acceptedAt).toBeLessThan(1500);
  });

  it('ends a TLS handshake that never completes at the deadline', async () => {
    const receiver = await hostile({ kind: 'silent' });
    const response = await send(receiver.httpsUrl('/tls'));
    expect(response).toMatchObject({
      statusCode: null,
      error: 'timeout: no answer within 500 ms',
      blocked: false,
    });
    expect(response.durationMs).toBeGreaterThanOrEqual(450);
    expect(response.durationMs).toBeLessThan(1000);
    await closedAfter(receiver);
  });

  it('reports an answer cut off in the middle as a network error, keeping what arrived', async () => {
    const receiver = await hostile({ kind: 'cut', status: 200, partialBody: 'partial\u0000' });
    const response = await send(receiver.url('/cut'));
    expect(response).toMatchObject({
      statusCode: null,
      responseBody: 'partial␀',
      error:
        'connection closed by the receiver in the middle of its answer (HTTP 200, 8 bytes of body received)',
    });
    expect(response.durationMs).toBeLessThan(400);
  });
});

describe('WebhookHttpClient private address guard', () => {
  const receiver = new WebhookReceiver();
  let guarded: WebhookHttpClient;

  beforeAll(async () => {
    await receiver.start();
    guarded = await clientWith({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false' });
  });

  afterAll(() => receiver.stop());

  it.each([
    ['127.0.0.1', (port: number) => `http://127.0.0.1:${port}/x`],
    ['localhost', (port: number) => `http://localhost:${port}/x`],
    ['[::1]', (port: number) => `http://[::1]:${port}/x`],
    ['127.1.2.3', (port: number) => `http://127.1.2.3:${port}/x`],
    ['decimal 2130706433', (port: number) => `http://2130706433:${port}/x`],
    ['hex 0x7f000001', (port: number) => `http://0x7f000001:${port}/x`],
    ['short 127.1', (port: number) => `http://127.1:${port}/x`],
    ['IPv4-mapped [::ffff:127.0.0.1]', (port: number) => `http://[::ffff:127.0.0.1]:${port}/x`],
    ['unspecified 0.0.0.0', (port: number) => `http://0.0.0.0:${port}/x`],
    ['IPv4-compatible [::127.0.0.1]', (port: number) => `http://[::127.0.0.1]:${port}/x`],
  ])('never reaches loopback written as %s', async (_label, urlFor) => {
    const response = await guarded.send({
      url: urlFor(receiver.listeningPort),
      headers: {},
      body: '{}',
    });
    expect(response.blocked).toBe(true);
    expect(response.statusCode).toBeNull();
    expect(response.error).toMatch(/^blocked address: /);
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses schemes other than http and https', async () => {
    const response = await guarded.send({ url: 'ftp://example.com/x', headers: {}, body: '{}' });
    expect(response).toMatchObject({ blocked: true, statusCode: null });
  });
});

describe('WebhookHttpClient on the wire', () => {
  const receiver = new WebhookReceiver();
  const hostileReceivers: HostileReceiver[] = [];
  let client: WebhookHttpClient;

  beforeAll(async () => {
    await receiver.start();
    client = await clientWith({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
  });

  afterAll(async () => {
    await Promise.all(hostileReceivers.map((hostile) => hostile.stop()));
    await receiver.stop();
  });

  it.each<[string, string, (text: Buffer) => Buffer]>([
    ['gzip', 'gzip', (text) => gzipSync(text)],
    ['deflate', 'deflate', (text) => deflateSync(text)],
    ['raw deflate', 'deflate', (text) => deflateRawSync(text)],
    ['br', 'br', (text) => brotliCompressSync(text)],
  ])('stores a %s answer inflated', async (_label, encoding, compress) => {
    const text = Buffer.from('{"error":"quota exceeded"}');
    const hostile = await new HostileReceiver({
      kind: 'answer',
      status: 429,
      body: compress(text),
      headers: { 'content-encoding': encoding },
    }).start();
    hostileReceivers.push(hostile);
    const response = await client.send({ url: hostile.url('/packed'), headers: {}, body: '{}' });
    expect(response).toMatchObject({ statusCode: 429, responseBody: text.toString() });
  });

  it('sends the body byte for byte, with its length', async () => {
    const body = '{ "name" : "Grüße 😀",\n  "n": 1.0 }';
    expect(await client.send({ url: receiver.url('/bytes'), headers: {}, body })).toMatchObject({
      statusCode: 200,
    });
    const [received] = receiver.requestsTo('/bytes');
    expect(received.body).toBe(body);
    expect(received.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it("sends the webhook's own headers, leaving out those about the connection", async () => {
    const response = await client.send({
      url: receiver.url('/headers'),
      headers: {
        'x-tenant': 'acme',
        'Keep-Alive': 'timeout=5',
        upgrade: 'h2c',
        expect: '100-continue',
      },
      body: '{}',
    });
    expect(response).toMatchObject({ statusCode: 200, error: null });
    const [received] = receiver.requestsTo('/headers');
    expect(received.headers['x-tenant']).toBe('acme');
    expect(received.headers).not.toHaveProperty('keep-alive');
    expect(received.headers).not.toHaveProperty('upgrade');
    expect(received.headers).not.toHaveProperty('expect');
  });

  it('sends user and password from the URL as basic credentials, in place of any authorization header', async () => {
    const url = receiver.url('/credentials').replace('http://', 'http://hook%40acme:p%3Ass@');
    const response = await client.send({
      url,
      headers: { Authorization: 'Bearer not-this' },
      body: '{}',
    });
    expect(response).toMatchObject({ statusCode: 200, error: null });
    const [received] = receiver.requestsTo('/credentials');
    expect(received.headers.authorization).toBe(
      `Basic ${Buffer.from('hook@acme:p:ss').toString('base64')}`,
    );
  });

  it('reuses its keep-alive connections for requests one after the other', async () => {
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    let connections = 0;
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (let i = 0; i < 20; i++) {
        const response = await client.send({
          url: `http://127.0.0.1:${port}/again`,
          headers: {},
          body: '{}',
        });
        expect(response).toMatchObject({ statusCode: 200, responseBody: 'ok' });
      }
      // Two, not one: undici's pool hears that a connection is free a tick after the answer
      // ended, so the request sent at once opens a second; from then on the two take turns.
      expect(connections).toBeLessThanOrEqual(2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('reports a receiver that hangs up without answering as a reset', async () => {
    const server = createNetServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const response = await client.send({
        url: `http://127.0.0.1:${port}/hangup`,
        headers: {},
        body: '{}',
      });
      expect(response).toMatchObject({
        statusCode: null,
        error: 'connection reset by the receiver',
        blocked: false,
      });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('reports a name that does not resolve', async () => {
    const response = await client.send({
      url: 'http://webhooks.invalid/x',
      headers: {},
      body: '{}',
    });
    expect(response.statusCode).toBeNull();
    expect(response.error).toMatch(/^DNS lookup failed \((ENOTFOUND|EAI_AGAIN)\)$/);
    expect(response.blocked).toBe(false);
  });
});

@Injectable()
class SenderDuringDrain implements BeforeApplicationShutdown {
  url = '';
  response: WebhookResponse | null = null;

  constructor(private readonly client: WebhookHttpClient) {}

  async beforeApplicationShutdown(): Promise<void> {
    this.response = await this.client.send({ url: this.url, headers: {}, body: '{}' });
  }
}

describe('WebhookHttpClient at shutdown', () => {
  it("still delivers during the apps' drains, then closes its keep-alive connections", async () => {
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/drain`;
    const openConnections = () =>
      new Promise<number>((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      );
    try {
      const config = loadConfig({
        KAFKA_BROKERS: '127.0.0.1:9',
        DATABASE_URL: requiredVariable('DATABASE_URL'),
        ADMIN_API_KEY: 'integration-admin-key',
        ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      });
      const module = await Test.createTestingModule({
        imports: [ConfigModule.forRoot(config), DeliveryModule],
        providers: [SenderDuringDrain],
      }).compile();
      const sender = module.get(SenderDuringDrain);
      sender.url = url;
      expect(
        await module.get(WebhookHttpClient).send({ url, headers: {}, body: '{}' }),
      ).toMatchObject({ statusCode: 200 });
      expect(await openConnections()).toBe(1);
      await module.close();
      expect(sender.response).toMatchObject({ statusCode: 200, error: null });
      await eventually(async () => expect(await openConnections()).toBe(0), { timeoutMs: 1000 });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
