import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';

/**
 * Random but replayable HTTP requests against the api, for the fuzz suite: every real route
 * with real and made-up ids, hostile paths, queries, content types, encodings, bodies and
 * keys. The same seed gives the same requests, in the same order.
 */

/** mulberry32: a tiny, fast, good-enough PRNG; all randomness here comes from it. */
export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Any UTF-16 code units, lone surrogates and NUL included. */
  text(maxLength: number): string {
    const length = this.int(0, maxLength);
    let out = '';
    for (let i = 0; i < length; i += 1) {
      out += this.chance(0.7)
        ? String.fromCharCode(this.int(0x20, 0x7e))
        : String.fromCharCode(
            this.pick([0, 1, 0x7f, 0xe9, 0x2028, 0xd800, 0xdfff, 0xfeff, 0x65e5]),
          );
    }
    return out;
  }

  /** Random text as it would sit in a URL, with a stray invalid UTF-8 byte now and then. */
  percentEncoded(maxLength: number): string {
    const bytes = Buffer.from(this.text(maxLength));
    let out = '';
    for (const byte of bytes) {
      const char = String.fromCharCode(byte);
      out += /[A-Za-z0-9._~-]/.test(char) ? char : `%${byte.toString(16).padStart(2, '0')}`;
    }
    return this.chance(0.2) ? `${out}%ff%c3` : out;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i += 1) out[i] = this.int(0, 255);
    return out;
  }

  uuid(): string {
    const hex = (n: number) =>
      Array.from({ length: n }, () => this.int(0, 15).toString(16)).join('');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-${this.pick(['8', '9', 'a', 'b'])}${hex(3)}-${hex(12)}`;
  }
}

/** Real things the fuzzer may name, so that many requests get past the guards. */
export interface FuzzTargets {
  adminKey: string;
  accountKey: string;
  accountId: string;
  /** A key of the account that the fuzzer may revoke (accountKey stays valid). */
  spareApiKeyId: string;
  webhookId: string;
  /** A webhook the fuzzer may delete (webhookId stays). */
  spareWebhookId: string;
  eventId: string;
  deliveryId: string;
  maxEventBytes: number;
}

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** What the generator meant to send, for a readable failure. */
  label: string;
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const MAX_TARGET_LENGTH = 10_000;
const METHODS = ['GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD', 'OPTIONS'] as const;
const QUERY_KEYS = [
  'account_id',
  'webhook_id',
  'event_id',
  'event_type',
  'status',
  'since',
  'until',
  'limit',
  'cursor',
  'sort',
];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json; charset=nonsense',
  'application/vnd.api+json',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'multipart/form-data',
  '*/*',
  'application/',
  ';;;',
];

/** One random request; `targets` supplies real ids and keys. */
export function randomRequest(random: SeededRandom, targets: FuzzTargets): RawRequest {
  // Mostly real routes with their own method, so requests get past routing to the code.
  const real = realRoute(random, targets);
  const roll = random.next();
  const method = roll < 0.65 ? real.method : random.pick(METHODS);
  const base = roll < 0.85 ? real.path : strangePath(random);
  // Node refuses a request head over 16 KB before any of our code runs; stay below that.
  const path = (base + randomQuery(random, targets)).slice(0, MAX_TARGET_LENGTH);
  const headers: Record<string, string> = {};
  const authorization = randomAuthorization(random, targets);
  if (authorization !== undefined) headers.authorization = authorization;
  if (random.chance(0.15)) headers['idempotency-key'] = randomIdempotencyKey(random);
  let body: Buffer | undefined;
  let bodyLabel = 'no body';
  if (method !== 'GET' && method !== 'HEAD' ? random.chance(0.85) : random.chance(0.1)) {
    const generated = random.chance(0.6)
      ? fittingBody(random, targets, real.body)
      : randomBody(random, targets);
    body = generated.bytes;
    bodyLabel = generated.label;
    if (random.chance(0.9)) {
      headers['content-type'] = random.chance(0.6)
        ? 'application/json'
        : random.pick(CONTENT_TYPES);
    }
    if (random.chance(0.08)) {
      const encoding = random.pick(['gzip', 'deflate', 'br', 'identity', 'compress', 'x-zip']);
      headers['content-encoding'] = encoding;
      // Half the gzip bodies really are gzip, so decompression and its size cap run too.
      if (encoding === 'gzip' && random.chance(0.5)) body = gzipSync(body);
    }
  }
  return {
    method,
    path,
    headers,
    body,
    label:
      `${method} ${path.slice(0, 200)} ${JSON.stringify(headers).slice(0, 300)} ` +
      `[${bodyLabel}] ${body?.subarray(0, 300).toString('utf8') ?? ''}`,
  };
}

/** A body close to what the route expects, mutated: the validation code gets exercised. */
function fittingBody(random: SeededRandom, t: FuzzTargets, kind: BodyKind): GeneratedBody {
  const json = (value: unknown, label: string): GeneratedBody => ({
    bytes: Buffer.from(JSON.stringify(value)),
    label,
  });
  const exact = random.chance(0.4);
  switch (kind) {
    case 'event': {
      const event = validEvent(random, t);
      return json(exact ? event : mutate(random, event), exact ? 'event' : 'event-like');
    }
    case 'webhook': {
      const webhook = validWebhook(random, t);
      return json(exact ? webhook : mutate(random, webhook), 'webhook-like');
    }
    case 'webhookPatch': {
      const patch = webhookPatch(random);
      return json(exact ? patch : mutate(random, patch), 'webhook-patch');
    }
    case 'replay': {
      const replay = { since: '2025-01-01T00:00:00Z', until: '2030-01-01T00:00:00Z' };
      return json(exact ? replay : mutate(random, replay), 'replay-like');
    }
    case 'apiKey': {
      const apiKey = { description: random.text(40) };
      return json(exact ? apiKey : mutate(random, apiKey), 'api-key-like');
    }
    case 'any':
      return randomBody(random, t);
  }
}

function randomId(random: SeededRandom, real: string): string {
  if (random.chance(0.4)) return real;
  return random.pick([
    () => real,
    () => random.uuid(),
    () => '00000000-0000-0000-0000-000000000000',
    () => random.percentEncoded(40) || 'x',
    () => 'a'.repeat(random.int(100, 3000)),
    () => '%00',
    () => '%E0%A4%A',
    () => '%',
    () => '..%2F..%2Fetc%2Fpasswd',
    () => '%2e%2e',
    () => String(random.int(-1e9, 1e9)),
    () => 'null',
    () => `${real}%00`,
  ])();
}

type BodyKind = 'event' | 'webhook' | 'webhookPatch' | 'replay' | 'apiKey' | 'any';

interface Target {
  method: string;
  path: string;
  body: BodyKind;
}

/** Every real route with its own method, and the body it expects. */
function realRoute(random: SeededRandom, t: FuzzTargets): Target {
  const webhook = () => randomId(random, t.webhookId);
  const delivery = () => randomId(random, t.deliveryId);
  const account = () => randomId(random, t.accountId);
  const route = (method: string, path: string, body: BodyKind = 'any'): Target => ({
    method,
    path,
    body,
  });
  return random.pick([
    () => route('POST', '/v1/events', 'event'),
    () => route('POST', '/v1/events', 'event'),
    () => route('GET', `/v1/events/${randomId(random, t.eventId)}`),
    () => route('POST', '/v1/webhooks', 'webhook'),
    () => route('POST', '/v1/webhooks', 'webhook'),
    () => route('GET', '/v1/webhooks'),
    () => route('GET', `/v1/webhooks/${webhook()}`),
    () => route('PATCH', `/v1/webhooks/${webhook()}`, 'webhookPatch'),
    () => route('PATCH', `/v1/webhooks/${webhook()}`, 'webhookPatch'),
    () => route('DELETE', `/v1/webhooks/${randomId(random, t.spareWebhookId)}`),
    () => route('POST', `/v1/webhooks/${webhook()}/rotate-secret`),
    () => route('POST', `/v1/webhooks/${webhook()}/replay`, 'replay'),
    () => route('GET', `/v1/webhooks/${webhook()}/stats`),
    () => route('GET', '/v1/deliveries'),
    () => route('GET', '/v1/deliveries'),
    () => route('GET', `/v1/deliveries/${delivery()}`),
    () => route('POST', `/v1/deliveries/${delivery()}/retry`),
    () => route('POST', `/v1/accounts/${account()}/api-keys`, 'apiKey'),
    () => route('GET', `/v1/accounts/${account()}/api-keys`),
    () =>
      route('DELETE', `/v1/accounts/${account()}/api-keys/${randomId(random, t.spareApiKeyId)}`),
    () => route('GET', '/health/live'),
    () => route('GET', '/health/ready'),
    () => route('GET', '/metrics'),
    () => route('GET', '/docs-json'),
  ])();
}

/** Paths no route has: traversal, doubled slashes, very long and percent-encoded garbage. */
function strangePath(random: SeededRandom): string {
  return random.pick([
    () => '/v1/../v1/webhooks',
    () => `/v1/webhooks/../../${random.pick(['etc/passwd', 'metrics', 'v1/events'])}`,
    () => '//v1//webhooks//',
    () => `/v1/${random.percentEncoded(30)}`,
    () => `/${'%41'.repeat(random.int(100, 2000))}`,
    () => `/v1/webhooks/${'x/'.repeat(random.int(10, 500))}`,
    () => '/v1/events%2F..%2Fwebhooks',
    () => '/%C0%AE%C0%AE/',
    () => '/v1/webhooks;jsessionid=1',
    () => '/v1/webhooks/',
    () => '/V1/WEBHOOKS',
    () => '/',
    () => '*',
  ])();
}

function randomQuery(random: SeededRandom, t: FuzzTargets): string {
  if (random.chance(0.4)) return '';
  const parts: string[] = [];
  const count = random.int(1, 6);
  for (let i = 0; i < count; i += 1) {
    const key = random.chance(0.85) ? random.pick(QUERY_KEYS) : random.percentEncoded(10);
    const shape = random.int(0, 3);
    const name = shape === 0 ? `${key}[]` : shape === 1 ? `${key}[x]` : key;
    parts.push(`${name}=${randomQueryValue(random, t)}`);
    if (random.chance(0.2)) parts.push(`${key}=${randomQueryValue(random, t)}`);
  }
  return `?${parts.join('&')}`;
}

function randomQueryValue(random: SeededRandom, t: FuzzTargets): string {
  return random.pick([
    () => t.accountId,
    () => t.webhookId,
    () => t.eventId,
    () => random.pick(['pending', 'delivering', 'succeeded', 'retrying', 'failed', 'lost']),
    () => String(random.int(-5, 200)),
    () => random.pick(['1.5', '1e3', 'NaN', 'Infinity', '0x10', '', '%205', '5+', '+5']),
    () => random.pick(['2025-01-01T00:00:00Z', '2025-02-30T00:00:00Z', 'yesterday', '0', '-1']),
    () =>
      random.pick(['9999-12-31T23:59:59Z', '0000-01-01T00:00:00Z', '2025-01-01T00:00:00+99:99']),
    () => Buffer.from(random.text(40)).toString('base64url'),
    () =>
      Buffer.from(JSON.stringify({ t: random.text(5), id: random.uuid() })).toString('base64url'),
    () => 'x'.repeat(random.int(1000, 6000)),
    () => random.percentEncoded(50),
    () => '%00',
    () => '%ff%fe',
  ])();
}

function randomAuthorization(random: SeededRandom, t: FuzzTargets): string | undefined {
  if (random.chance(0.4)) return `Bearer ${t.adminKey}`;
  return random.pick([
    () => `Bearer ${t.adminKey}`,
    () => `Bearer ${t.accountKey}`,
    () => `Bearer ${t.accountKey}`,
    () => undefined,
    () => 'Bearer',
    () => 'Bearer ',
    () => `bearer ${t.adminKey}`,
    () => `Basic ${Buffer.from('admin:admin').toString('base64')}`,
    () => `Bearer whk_${random.uuid()}_${'s'.repeat(random.int(0, 80))}`,
    () => `Bearer whk_${'_'.repeat(random.int(1, 5))}`,
    () => `Bearer ${'k'.repeat(random.int(500, 4000))}`,
    () => `Bearer ${t.adminKey}x`,
    () => `Bearer  ${t.adminKey}`,
    () => `Token ${t.accountKey}`,
  ])();
}

function randomIdempotencyKey(random: SeededRandom): string {
  return random.pick([
    () => random.uuid(),
    () => 'fixed-key',
    () => '',
    () => ' ',
    () => 'k'.repeat(random.int(200, 400)),
    // Header values go out as Latin-1 bytes: é arrives as the single byte 0xE9.
    () => 'clé',
    () => 'tab\there',
  ])();
}

interface GeneratedBody {
  bytes: Buffer;
  label: string;
}

function randomBody(random: SeededRandom, t: FuzzTargets): GeneratedBody {
  const json = (value: unknown, label: string): GeneratedBody => ({
    bytes: Buffer.from(JSON.stringify(value) ?? 'null'),
    label,
  });
  return random.pick<() => GeneratedBody>([
    () => json(mutate(random, validEvent(random, t)), 'event-like'),
    () => json(mutate(random, validEvent(random, t)), 'event-like'),
    () => json(mutate(random, validWebhook(random, t)), 'webhook-like'),
    () => json(mutate(random, validWebhook(random, t)), 'webhook-like'),
    () => json(mutate(random, { since: '2025-01-01T00:00:00Z', until: 'now' }), 'replay-like'),
    () => json(randomJson(random, 0), 'random JSON'),
    () => {
      const levels = random.int(50, 6000);
      const [open, close] = random.pick([
        ['{"a":', '}'],
        ['[', ']'],
      ] as const);
      const inner = `${open.repeat(levels)}1${close.repeat(levels)}`;
      const text = random.chance(0.5)
        ? `{"type":"a.b","account_id":"${t.accountId}","data":{"x":${inner}}}`
        : inner;
      return { bytes: Buffer.from(text), label: `nested ${levels} levels` };
    },
    () => {
      const text = JSON.stringify(validEvent(random, t));
      return {
        bytes: Buffer.from(text.slice(0, random.int(0, text.length - 1))),
        label: 'truncated',
      };
    },
    () => ({ bytes: random.bytes(random.int(1, 300)), label: 'random bytes' }),
    () => ({
      bytes: Buffer.concat([
        Buffer.from('{"type":"a.b","description":"'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('"}'),
      ]),
      label: 'invalid UTF-8',
    }),
    () => json({ ...validWebhook(random, t), description: `a\u0000b` }, 'NUL in description'),
    () =>
      json(
        { ...validEvent(random, t), data: { s: 'nul\u0000here', [`k\u0000`]: 1 } },
        'NUL in data',
      ),
    () => ({
      bytes: Buffer.from(
        JSON.stringify({
          ...validEvent(random, t),
          data: { blob: 'x'.repeat(t.maxEventBytes + random.int(1, 50_000)) },
        }),
      ),
      label: 'over MAX_EVENT_BYTES',
    }),
    () => ({ bytes: Buffer.alloc(0), label: 'empty' }),
    () => ({ bytes: Buffer.from('a=1&b=2&a=3'), label: 'form' }),
    () => ({
      bytes: Buffer.from(
        '--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz--\r\n',
      ),
      label: 'multipart',
    }),
    () => ({
      bytes: Buffer.from(random.pick(['null', 'true', '0', '"s"', '[]', '{}', '1e999', '-0'])),
      label: 'scalar JSON',
    }),
    () => ({
      bytes: Buffer.from('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}'),
      label: 'prototype keys',
    }),
    () => ({ bytes: Buffer.from('\ufeff{"type":"a.b"}'), label: 'BOM' }),
  ])();
}

function validEvent(random: SeededRandom, t: FuzzTargets): Record<string, unknown> {
  return {
    ...(random.chance(0.5) ? { id: `fuzz-${random.uuid()}` } : {}),
    type: random.pick(['user.created', 'order.paid', 'a.b']),
    account_id: t.accountId,
    data: { n: random.int(0, 1000) },
    ...(random.chance(0.5) ? { timestamp: '2025-01-01T12:00:00Z' } : {}),
  };
}

/** Mostly valid webhook fields, now and then a value the api must refuse. */
function webhookFields(random: SeededRandom): Record<string, unknown> {
  const odd = () => random.chance(0.3);
  return {
    url: odd()
      ? random.pick([
          'http://xn--a.com/',
          'http://[fe80::1%25eth0]/',
          'http://[::1]/x',
          'https://example.com/a b',
          'http://example.com:99999/',
          'javascript:alert(1)',
          `http://example.com/${'p'.repeat(random.int(1, 3000))}`,
        ])
      : 'http://127.0.0.1:9/hook',
    event_types: odd()
      ? random.pick([['*.x'], [], ['a'.repeat(300)], [1, null], 'user.*'])
      : random.pick([['*'], ['user.*'], ['user.created', 'order.*']]),
    description: odd() ? random.text(30) : 'fuzzed',
    headers: odd()
      ? random.pick([
          { 'x-é': 'v' },
          { 'x-a': 'é' },
          { 'x-a': '日本' },
          { 'x-a': 'a\u0001b' },
          { 'bad name': 'v' },
          { '': 'v' },
          { 'x-a': 5 },
          { 'webhook-id': 'mine' },
          [],
        ])
      : random.pick([{}, { 'x-token': 'abc' }]),
    enabled: odd() ? random.pick(['yes', 0]) : random.chance(0.5),
  };
}

function validWebhook(random: SeededRandom, t: FuzzTargets): Record<string, unknown> {
  const { enabled: _enabled, ...fields } = webhookFields(random);
  return { account_id: t.accountId, ...fields };
}

/** A PATCH body: some of the fields a webhook update takes. */
function webhookPatch(random: SeededRandom): Record<string, unknown> {
  return Object.fromEntries(Object.entries(webhookFields(random)).filter(() => random.chance(0.5)));
}

/** Drops, nulls, replaces or retypes some fields, and sometimes adds unknown ones. */
function mutate(random: SeededRandom, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const key of Object.keys(out)) {
    const roll = random.next();
    if (roll < 0.15) delete out[key];
    else if (roll < 0.3) out[key] = randomJson(random, 3);
    else if (roll < 0.4) out[key] = null;
  }
  if (random.chance(0.1)) out[random.text(8)] = randomJson(random, 4);
  return out;
}

function randomJson(random: SeededRandom, depth: number): unknown {
  const kind = depth > 5 ? random.int(0, 4) : random.int(0, 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2:
      return random.pick([0, -1, 1.5, 1e308, -1e-308, Number.MAX_SAFE_INTEGER + 2]);
    case 3:
      return random.text(20);
    case 4:
      return random.pick(['', 'user.created', '2025-01-01T00:00:00Z', random.uuid()]);
    case 5:
    case 6:
      return Array.from({ length: random.int(0, 4) }, () => randomJson(random, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: random.int(0, 4) }, () => [
          random.pick(['type', 'account_id', 'data', 'url', 'id', random.text(6)]),
          randomJson(random, depth + 1),
        ]),
      );
  }
}

/**
 * Sends the request on a fresh connection with Node's own client (fetch would normalise the
 * path and refuse some bodies), and resolves with the answer; rejects on a socket error.
 */
export function sendRaw(port: number, request: RawRequest, timeoutMs = 15_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: request.method,
        path: request.path,
        headers: {
          ...request.headers,
          ...(request.body === undefined ? {} : { 'content-length': String(request.body.length) }),
        },
        agent: false,
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

/**
 * Writes `bytes` as they are on a fresh TCP connection (no HTTP client to tidy them up) and
 * resolves with the status and body the server wrote before closing.
 */
export function sendBytes(
  port: number,
  bytes: string | Buffer,
  timeoutMs = 10_000,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no answer within ${timeoutMs} ms`)),
    );
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      const [statusLine, ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
      resolve({ status, headers, body: rest.join('\r\n\r\n') });
    });
    socket.write(bytes);
  });
}
