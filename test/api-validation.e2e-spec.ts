import { networkInterfaces } from 'node:os';
import { Stack, TEST_ADMIN_KEY, uniqueAccountId } from '@libs/testing';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
}

describe('validation: bad input answers 4xx with what is wrong (e2e)', () => {
  let stack: Stack;
  const account = uniqueAccountId('validation');

  beforeAll(async () => {
    stack = await Stack.start({ MAX_EVENT_BYTES: '4096' });
  });

  afterAll(() => stack?.stop());

  const expectError = (
    answer: { status: number; body: ErrorBody },
    status: number,
    mention?: RegExp,
  ) => {
    expect(answer.status).toBe(status);
    expect(answer.body).toEqual({
      statusCode: status,
      error: expect.any(String),
      message: expect.anything(),
    });
    if (mention) expect(JSON.stringify(answer.body.message)).toMatch(mention);
  };

  it('lists every bad field of an event at once', async () => {
    const answer = await stack.api.post<ErrorBody>('/v1/events', {
      type: 'not a type',
      account_id: '',
      data: 'text',
      timestamp: 'yesterday',
      surprise: true,
    });
    expectError(answer, 400);
    const messages = answer.body.message as string[];
    for (const field of ['type', 'account_id', 'data', 'timestamp', 'surprise']) {
      expect(messages.some((message) => message.includes(field))).toBe(true);
    }
  });

  it.each<[string, string | object, number, RegExp]>([
    ['malformed JSON', '{"type": "user.created",', 400, /JSON/],
    ['a JSON array', '[1, 2]', 400, /type|account_id|data/],
    ['no data', { type: 'user.created', account_id: 'acme' }, 400, /data/],
    [
      'an id with spaces',
      { id: 'a b', type: 'user.created', account_id: 'acme', data: {} },
      400,
      /id must/,
    ],
  ])('refuses an event with %s', async (_label, body, status, mention) => {
    expectError(await stack.api.post<ErrorBody>('/v1/events', body), status, mention);
  });

  it('answers 413 for an event over MAX_EVENT_BYTES', async () => {
    const body = { type: 'user.created', account_id: account, data: { blob: 'x'.repeat(8192) } };
    expectError(await stack.api.post<ErrorBody>('/v1/events', body), 413, /MAX_EVENT_BYTES/);
  });

  it.each<[string, object, RegExp]>([
    ['no url', { account_id: 'acme' }, /url/],
    ['an ftp url', { account_id: 'acme', url: 'ftp://example.com/x' }, /url/],
    [
      'bad event types',
      { account_id: 'acme', url: 'https://example.com', event_types: ['*.x'] },
      /event_types/,
    ],
    [
      'reserved headers',
      { account_id: 'acme', url: 'https://example.com', headers: { 'webhook-id': 'x' } },
      /set by the service/,
    ],
    [
      'a connection-level header',
      { account_id: 'acme', url: 'https://example.com', headers: { 'Keep-Alive': 'timeout=5' } },
      /Keep-Alive.{0,4} is set by the service/,
    ],
    [
      'an unknown field',
      { account_id: 'acme', url: 'https://example.com', secret: 'mine' },
      /secret should not exist/,
    ],
  ])('refuses a webhook with %s', async (_label, body, mention) => {
    expectError(await stack.api.post<ErrorBody>('/v1/webhooks', body), 400, mention);
  });

  it.each<[string, RegExp]>([
    ['limit=0', /limit/],
    ['limit=101', /limit/],
    ['limit=ten', /limit/],
    ['status=lost', /status/],
    ['since=yesterday', /since/],
    ['webhook_id=42', /webhook_id/],
    ['cursor=not-a-cursor', /cursor/],
    ['sort=asc', /sort should not exist/],
  ])('refuses a delivery query with %s', async (query, mention) => {
    expectError(await stack.api.get<ErrorBody>(`/v1/deliveries?${query}`), 400, mention);
  });

  it.each<[string, number]>([
    ['/v1/webhooks/not-a-uuid', 400],
    ['/v1/deliveries/123', 400],
    ['/v1/events/with%20space', 400],
    ['/v1/webhooks/00000000-0000-4000-8000-000000000000', 404],
    ['/v1/deliveries/00000000-0000-4000-8000-000000000000', 404],
    ['/v1/events/no-such-event', 404],
    ['/v1/nothing-here', 404],
  ])('answers GET %s with %i, never 500', async (path, status) => {
    expectError(await stack.api.get<ErrorBody>(path), status);
  });

  it('refuses a bad Idempotency-Key header', async () => {
    const answer = await stack.api.post<ErrorBody>(
      '/v1/events',
      { type: 'user.created', account_id: account, data: {} },
      { 'idempotency-key': 'x'.repeat(300) },
    );
    expectError(answer, 400, /Idempotency-Key/);
  });

  it('refuses an inverted replay window', async () => {
    const webhook = await stack.api.post<{ id: string }>('/v1/webhooks', {
      account_id: account,
      url: 'https://example.com/hook',
    });
    const answer = await stack.api.post<ErrorBody>(`/v1/webhooks/${webhook.body.id}/replay`, {
      since: '2026-01-02T00:00:00Z',
      until: '2026-01-01T00:00:00Z',
    });
    expectError(answer, 400, /until must be later than since/);
  });

  it('takes an id of the full 128 characters in the path, and refuses one longer with 400', async () => {
    const longest = 'e'.repeat(128);
    expectError(await stack.api.get<ErrorBody>(`/v1/events/${longest}`), 404, /not found/);
    expectError(await stack.api.get<ErrorBody>(`/v1/events/${longest}e`), 400, /1-128/);
    const keys = await stack.api.get<unknown[]>(`/v1/accounts/${'a'.repeat(128)}/api-keys`);
    expect(keys.status).toBe(200);
  });

  it('answers a path that is no valid percent-encoding with the same error shape', async () => {
    const answer = await stack.api.get<ErrorBody>('/v1/webhooks/%ff');
    expectError(answer, 400, /valid/);
  });

  it('listens on IPv6 as well as IPv4, as Node does by default, where the machine has IPv6', async () => {
    const ipv6 = Object.values(networkInterfaces())
      .flat()
      .some((address) => address?.family === 'IPv6');
    if (!ipv6) return;
    const answer = await fetch(`http://[::1]:${stack.apiProcess.port}/health/live`);
    expect(answer.status).toBe(200);
  });

  it('matches routes whatever their letter case and with a trailing slash', async () => {
    expect((await stack.api.get('/V1/Webhooks')).status).toBe(200);
    expect((await stack.api.get('/v1/webhooks/')).status).toBe(200);
  });

  it('takes a body-less POST that names application/json, as clients generated from the document send it', async () => {
    const webhook = await stack.api.post<{ id: string }>('/v1/webhooks', {
      account_id: account,
      url: 'https://example.com/hook',
    });
    const rotated = await stack.api.post<{ secret: string }>(
      `/v1/webhooks/${webhook.body.id}/rotate-secret`,
      undefined,
      { 'content-type': 'application/json' },
    );
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
  });

  it.each<[string, Record<string, string>, Buffer, number, RegExp]>([
    ['br that is not br', { 'content-encoding': 'br' }, Buffer.from('{}'), 400, /decompressed/],
    [
      'UTF-16, which JSON may be sent in',
      { 'content-type': 'application/json; charset=utf-16le' },
      Buffer.from(JSON.stringify({ type: 'user.created', data: {} }), 'utf16le'),
      400,
      /account_id/,
    ],
    [
      'a body of another type, which is not read',
      { 'content-type': 'text/plain' },
      Buffer.from(JSON.stringify({ type: 'user.created', account_id: 'acme', data: {} })),
      400,
      /type/,
    ],
  ])('reads or refuses an event with %s', async (_label, headers, body, status, mention) => {
    const response = await fetch(`${stack.apiProcess.url}/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_ADMIN_KEY}`,
        'content-type': 'application/json',
        ...headers,
      },
      body,
    });
    expectError(
      { status: response.status, body: (await response.json()) as ErrorBody },
      status,
      mention,
    );
  });
});

describe('OpenAPI document (e2e)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start();
  });

  afterAll(() => stack?.stop());

  it('documents every /v1 route with bearer auth, and the request schemas with examples', async () => {
    const answer = await stack.api.withKey(null).get<{
      paths: Record<string, Record<string, { security?: unknown[] }>>;
      components: {
        schemas: Record<string, { properties?: Record<string, { example?: unknown }> }>;
      };
    }>('/docs-json');
    expect(answer.status).toBe(200);
    const routes = Object.entries(answer.body.paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({
        route: `${method.toUpperCase()} ${path}`,
        operation,
      })),
    );
    expect(routes.map(({ route }) => route)).toEqual(
      expect.arrayContaining([
        'POST /v1/events',
        'GET /v1/events/{id}',
        'POST /v1/webhooks',
        'GET /v1/webhooks',
        'GET /v1/webhooks/{id}',
        'PATCH /v1/webhooks/{id}',
        'DELETE /v1/webhooks/{id}',
        'POST /v1/webhooks/{id}/rotate-secret',
        'POST /v1/webhooks/{id}/replay',
        'GET /v1/webhooks/{id}/stats',
        'GET /v1/deliveries',
        'GET /v1/deliveries/{id}',
        'POST /v1/deliveries/{id}/retry',
        'POST /v1/accounts/{account_id}/api-keys',
        'GET /v1/accounts/{account_id}/api-keys',
        'DELETE /v1/accounts/{account_id}/api-keys/{id}',
        'GET /health/live',
        'GET /health/ready',
      ]),
    );
    for (const { route, operation } of routes.filter(({ route }) => route.includes(' /v1/'))) {
      expect({ route, security: operation.security }).toEqual({
        route,
        security: [{ bearer: [] }],
      });
    }
    const event = answer.body.components.schemas.PublishEventRequest.properties ?? {};
    expect(Object.keys(event).sort()).toEqual([
      'account_id',
      'campaign_id',
      'data',
      'id',
      'timestamp',
      'type',
    ]);
    expect(event.type.example).toBe('user.created');
  });
});
