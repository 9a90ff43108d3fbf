import { gzipSync } from 'node:zlib';
import {
  FuzzTargets,
  RawAnswer,
  RawRequest,
  SeededRandom,
  Stack,
  TEST_ADMIN_KEY,
  eventually,
  randomRequest,
  sendBytes,
  sendRaw,
  uniqueAccountId,
} from '@libs/testing';

/** Requests per run: enough to reach every route many times, well within a minute. */
const REQUESTS = 800;
const CONCURRENCY = 4;
const MAX_EVENT_BYTES = 262_144;

interface Failure {
  request: string;
  problem: string;
}

/** What every answer must be: below 500, and an error answer the documented JSON shape. */
function problemWith(request: RawRequest, answer: RawAnswer): string | undefined {
  if (answer.status >= 500) return `answered ${answer.status}: ${answer.body.slice(0, 300)}`;
  if (answer.status < 400 || request.method === 'HEAD') return undefined;
  if (!String(answer.headers['content-type']).includes('application/json')) {
    return `error ${answer.status} is not JSON: ${answer.headers['content-type']} ${answer.body.slice(0, 200)}`;
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return `error ${answer.status} has a body that does not parse: ${answer.body.slice(0, 200)}`;
  }
  const shaped =
    typeof body === 'object' &&
    body !== null &&
    'statusCode' in body &&
    body.statusCode === answer.status &&
    'error' in body &&
    typeof body.error === 'string' &&
    'message' in body &&
    (typeof body.message === 'string' ||
      (Array.isArray(body.message) && body.message.every((m) => typeof m === 'string')));
  return shaped
    ? undefined
    : `error ${answer.status} is not {statusCode, error, message}: ${answer.body.slice(0, 200)}`;
}

async function check(
  port: number,
  request: RawRequest,
): Promise<{ status: number | 'none'; failure?: Failure }> {
  try {
    const answer = await sendRaw(port, request);
    const problem = problemWith(request, answer);
    return {
      status: answer.status,
      failure: problem === undefined ? undefined : { request: request.label, problem },
    };
  } catch (error) {
    return {
      status: 'none',
      failure: { request: request.label, problem: `connection failed: ${String(error)}` },
    };
  }
}

describe('fuzz: hostile requests never get a 5xx or a dropped connection (e2e)', () => {
  let stack: Stack;
  let targets: FuzzTargets;

  beforeAll(async () => {
    stack = await Stack.start({ MAX_EVENT_BYTES: String(MAX_EVENT_BYTES) });
    const accountId = uniqueAccountId('fuzz');
    const apiKey = await stack.api.post<{ id: string; key: string }>(
      `/v1/accounts/${accountId}/api-keys`,
    );
    const spareApiKey = await stack.api.post<{ id: string }>(`/v1/accounts/${accountId}/api-keys`);
    const [webhook, spareWebhook] = await Promise.all(
      [1, 2].map(() =>
        stack.api.post<{ id: string }>('/v1/webhooks', {
          account_id: accountId,
          url: 'http://127.0.0.1:9/hook',
        }),
      ),
    );
    const event = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'user.created',
      account_id: accountId,
      data: {},
    });
    const deliveryId = await eventually(async () => {
      const page = await stack.api.get<{ data: Array<{ id: string }> }>(
        `/v1/deliveries?event_id=${event.body.id}`,
      );
      if (page.body.data.length === 0) throw new Error('no delivery yet');
      return page.body.data[0].id;
    });
    targets = {
      adminKey: TEST_ADMIN_KEY,
      accountKey: apiKey.body.key,
      spareApiKeyId: spareApiKey.body.id,
      accountId,
      webhookId: webhook.body.id,
      spareWebhookId: spareWebhook.body.id,
      eventId: event.body.id,
      deliveryId,
      maxEventBytes: MAX_EVENT_BYTES,
    };
  });

  afterAll(() => stack?.stop());

  const send = (request: Omit<RawRequest, 'label'>) =>
    sendRaw(stack.apiProcess.port, { ...request, label: '' });
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const admin = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };

  const expectError = (answer: RawAnswer, status: number, mention: RegExp) => {
    expect({ status: answer.status, body: JSON.parse(answer.body) }).toEqual({
      status,
      body: { statusCode: status, error: expect.any(String), message: expect.anything() },
    });
    expect(answer.body).toMatch(mention);
  };

  // Each of these answered 500 once (or let through a webhook the worker could never call).
  it.each<[string, () => Record<string, unknown>, RegExp]>([
    ['a URL WHATWG refuses (bad punycode)', () => ({ url: 'http://xn--a.com/' }), /url must/],
    ['a URL with an IPv6 zone id', () => ({ url: 'http://[fe80::1%25eth0]/' }), /url must/],
    ['a URL with a NUL', () => ({ url: 'http://example.com/a\u0000' }), /url must/],
    ['a NUL in the description', () => ({ description: 'a\u0000b' }), /description/],
    ['a non-ASCII header value', () => ({ headers: { 'x-a': 'é' } }), /non-ASCII/],
    ['a header value Node refuses', () => ({ headers: { 'x-a': '日本' } }), /non-ASCII/],
    ['a control character in a header', () => ({ headers: { 'x-a': 'a\u0001' } }), /control/],
    ['a header name that is no token', () => ({ headers: { 'a b': 'x' } }), /header name/],
    ['a header name with a colon', () => ({ headers: { 'x:y': 'x' } }), /header name/],
  ])('refuses a webhook with %s, on create and on update', async (_label, fields, mention) => {
    const base = { account_id: targets.accountId, url: 'http://127.0.0.1:9/hook' };
    const created = await send({
      method: 'POST',
      path: '/v1/webhooks',
      headers: admin,
      body: json({ ...base, ...fields() }),
    });
    expectError(created, 400, mention);
    const patched = await send({
      method: 'PATCH',
      path: `/v1/webhooks/${targets.webhookId}`,
      headers: admin,
      body: json(fields()),
    });
    expectError(patched, 400, mention);
  });

  it.each<[string, RegExp]>([
    ['url', /url must/],
    ['event_types', /event_types must/],
    ['headers', /headers/],
    ['enabled', /enabled must/],
  ])(
    'refuses a PATCH setting %s to null, and a description of null clears it',
    async (field, mention) => {
      const answer = await send({
        method: 'PATCH',
        path: `/v1/webhooks/${targets.webhookId}`,
        headers: admin,
        body: json({ [field]: null }),
      });
      expectError(answer, 400, mention);
      const cleared = await send({
        method: 'PATCH',
        path: `/v1/webhooks/${targets.webhookId}`,
        headers: admin,
        body: json({ description: null }),
      });
      expect(cleared.status).toBe(200);
      expect(JSON.parse(cleared.body)).toMatchObject({ description: null, enabled: true });
    },
  );

  it('refuses a replay window whose end is null rather than reading it as 1970', async () => {
    const answer = await send({
      method: 'POST',
      path: `/v1/webhooks/${targets.webhookId}/replay`,
      headers: admin,
      body: json({ since: '2025-01-01T00:00:00Z', until: null }),
    });
    expectError(answer, 400, /until must be an RFC 3339 date-time/);
  });

  it('refuses an API key description with a NUL', async () => {
    const answer = await send({
      method: 'POST',
      path: `/v1/accounts/${targets.accountId}/api-keys`,
      headers: admin,
      body: json({ description: 'billing\u0000' }),
    });
    expectError(answer, 400, /description must not contain NUL/);
  });

  it.each<[string, string]>([
    ['objects', `{"a":`.repeat(5000) + '1' + '}'.repeat(5000)],
    ['arrays', '['.repeat(5000) + ']'.repeat(5000)],
  ])('refuses an event nesting thousands of %s with 400 before validation', async (_l, deep) => {
    const body = `{"type":"a.b","account_id":"${targets.accountId}","data":{"x":${deep}}}`;
    const answer = await send({
      method: 'POST',
      path: '/v1/events',
      headers: admin,
      body: Buffer.from(body),
    });
    expectError(answer, 400, /nesting deeper than 64 levels/);
  });

  it.each<[string, Record<string, string>, Buffer, number, RegExp]>([
    ['gzip that is not', { 'content-encoding': 'gzip' }, json({}), 400, /decompressed/],
    ['an unknown encoding', { 'content-encoding': 'compress' }, json({}), 415, /Encoding/],
    [
      'a charset other than UTF-8',
      { 'content-type': 'application/json; charset=latin1' },
      json({}),
      415,
      /charset/,
    ],
    [
      'gzip inflating past MAX_EVENT_BYTES',
      { 'content-encoding': 'gzip' },
      gzipSync(json({ data: 'x'.repeat(MAX_EVENT_BYTES * 2) })),
      413,
      /MAX_EVENT_BYTES/,
    ],
  ])('answers a body with %s with a JSON 4xx', async (_label, headers, body, status, mention) => {
    const answer = await send({
      method: 'POST',
      path: '/v1/events',
      headers: { ...admin, ...headers },
      body,
    });
    expectError(answer, status, mention);
  });

  it.each<[string, string, number]>([
    [
      'a header section over 16 KB',
      `GET /v1/webhooks HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
    ],
    ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400],
    [
      'a control character in a header',
      'GET /v1/webhooks HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0001b\r\n\r\n',
      400,
    ],
    [
      'both Content-Length and chunked framing',
      'POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
  ])('answers %s, which Node itself refuses, with a JSON error', async (_label, bytes, status) => {
    const answer = await sendBytes(stack.apiProcess.port, bytes);
    expect(answer.headers['content-type']).toMatch(/application\/json/);
    expectError(answer, status, /./);
  });

  it(`answers ${REQUESTS} random requests below 500, errors as {statusCode, error, message}`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
    console.log(`fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const random = new SeededRandom(seed);
    // Generated up front, in order, so a seed always yields the same requests.
    const requests = Array.from({ length: REQUESTS }, () => randomRequest(random, targets));
    const failures: Failure[] = [];
    const statuses = new Map<number | 'none', number>();
    const started = Date.now();
    let nextIndex = 0;
    const lane = async () => {
      for (let i = nextIndex++; i < requests.length; i = nextIndex++) {
        const { status, failure } = await check(stack.apiProcess.port, requests[i]);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (failure) failures.push(failure);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    console.log(
      `fuzz: ${REQUESTS} requests in ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
        `${failures.length} failures; answers by status: ` +
        [...statuses]
          .sort()
          .map(([status, count]) => `${status}×${count}`)
          .join(' '),
    );
    expect(failures.slice(0, 15)).toEqual([]);

    // And the api is still whole: ready, and an ordinary event is accepted.
    expect((await fetch(`${stack.apiProcess.url}/health/ready`)).status).toBe(200);
    const published = await stack.api.post('/v1/events', {
      type: 'user.created',
      account_id: targets.accountId,
      data: {},
    });
    expect(published.status).toBe(202);
  });
});
