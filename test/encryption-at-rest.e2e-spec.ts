import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import {
  AppProcess,
  ReceivedRequest,
  Stack,
  WebhookReceiver,
  eventually,
  uniqueAccountId,
} from '@libs/testing';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..');

interface CreatedWebhook {
  id: string;
  secret: string;
  headers: Record<string, string>;
}

interface WebhookAnswer {
  id: string;
  description: string | null;
  headers: Record<string, string>;
  credentials_error: string | null;
}

interface Delivery {
  status: string;
  attempts: { error: string | null }[];
}

const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const material = (key: string) => key.slice(key.indexOf(':') + 1);
/** Random header values, unlike anything else the database could hold by chance. */
const token = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

/** Every row of every table of the database, as text: what a dump or a replica would give away. */
async function everythingStored(databaseUrl: string): Promise<string> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
       WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    expect(tables.rows.map((table) => table.name)).toEqual(
      expect.arrayContaining(['public.webhooks', 'public.deliveries', 'public.delivery_attempts']),
    );
    const dumps: string[] = [];
    for (const { name } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM ${name} t`);
      dumps.push(...rows.rows.map((row) => row.row));
    }
    return dumps.join('\n');
  } finally {
    await client.end();
  }
}

/** Every stored secret and header value of every webhook, as stored. */
async function storedCredentials(databaseUrl: string): Promise<string[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = await client.query<{ value: string }>(
      `SELECT secret AS value FROM webhooks
       UNION ALL SELECT previous_secret FROM webhooks WHERE previous_secret IS NOT NULL
       UNION ALL SELECT h.value FROM webhooks, jsonb_each_text(headers) h`,
    );
    return rows.rows.map((row) => row.value);
  } finally {
    await client.end();
  }
}

function verify(request: ReceivedRequest, secret: string): unknown {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  });
}

describe('webhook secrets and headers encrypted at rest (e2e)', () => {
  const receiver = new WebhookReceiver();
  const account = uniqueAccountId('sealed');
  const [k1, k2, k3] = [newKey('k1'), newKey('k2'), newKey('k3')];
  let stack: Stack;
  /** Output of every app process this file ran, gathered before each is replaced. */
  let logs = '';
  let orders: CreatedWebhook;
  let billing: CreatedWebhook;
  let rotatedSecret: string;
  const secretsAndValues: string[] = [];

  const restart = async (keys: string) => {
    logs += stack.apiProcess.logs() + stack.worker.logs();
    await stack.restart({ ENCRYPTION_KEYS: keys });
  };
  const subscribe = async (path: string, headers: Record<string, string>) => {
    const created = await stack.api.post<CreatedWebhook>('/v1/webhooks', {
      account_id: account,
      url: receiver.url(path),
      headers,
    });
    expect(created.status).toBe(201);
    expect(created.body.headers).toEqual(headers);
    secretsAndValues.push(created.body.secret, ...Object.values(headers));
    return created.body;
  };
  /** Publishes one event and returns what each path received for it. */
  const publish = async (paths: string[]): Promise<ReceivedRequest[]> => {
    const published = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'order.paid',
      account_id: account,
      data: { n: Math.random() },
    });
    expect(published.status).toBe(202);
    const forEvent = (path: string) =>
      receiver
        .requestsTo(path)
        .filter((request) => request.headers['webhook-id'] === published.body.id);
    return eventually(
      () =>
        paths.map((path) => {
          const [request] = forEvent(path);
          expect([path, request]).toEqual([path, expect.anything()]);
          return request;
        }),
      { timeoutMs: 20_000 },
    );
  };
  const expectNothingInClear = async () => {
    const stored = await everythingStored(stack.databaseUrl);
    expect(stored).toContain(account);
    const secretBodies = secretsAndValues
      .filter((value) => value.startsWith('whsec_'))
      .map((secret) => secret.slice('whsec_'.length));
    for (const value of [...secretsAndValues, ...secretBodies]) {
      expect(stored.includes(value) ? value : 'absent').toBe('absent');
    }
  };

  beforeAll(async () => {
    await receiver.start();
    stack = await Stack.start({
      ENCRYPTION_KEYS: k1,
      // Debug logs too must not carry a secret.
      LOG_LEVEL: 'debug',
      // A retry every 2 s for a minute: enough to outlast two restarts of the apps.
      RETRY_SCHEDULE: '0,2',
      RETRY_MAX_ATTEMPTS: '30',
      RETRY_POLL_INTERVAL_MS: '200',
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver.stop();
  });

  it('keeps no secret and no header value in clear, and still signs and sends them', async () => {
    orders = await subscribe('/orders', {
      Authorization: `Bearer ${token('orders-token')}`,
      'X-Tenant': token('tenant'),
    });
    billing = await subscribe('/billing', { 'X-Api-Key': token('billing-before-patch') });
    const rotated = await stack.api.post<{ secret: string }>(
      `/v1/webhooks/${orders.id}/rotate-secret`,
    );
    expect(rotated.status).toBe(200);
    rotatedSecret = rotated.body.secret;
    secretsAndValues.push(rotatedSecret);
    const billingHeaders = { 'X-Api-Key': token('billing-key') };
    const patched = await stack.api.patch<{ headers: Record<string, string> }>(
      `/v1/webhooks/${billing.id}`,
      { headers: billingHeaders },
    );
    expect(patched.body.headers).toEqual(billingHeaders);
    billing = { ...billing, headers: billingHeaders };
    secretsAndValues.push(billingHeaders['X-Api-Key']);

    // The api shows the header values as they were given.
    const shown = await stack.api.get<{ headers: Record<string, string> }>(
      `/v1/webhooks/${orders.id}`,
    );
    expect(shown.body.headers).toEqual(orders.headers);
    const listed = await stack.api.get<{ id: string; headers: Record<string, string> }[]>(
      `/v1/webhooks?account_id=${account}`,
    );
    expect(listed.body.map(({ id, headers }) => ({ id, headers }))).toEqual([
      { id: orders.id, headers: orders.headers },
      { id: billing.id, headers: billing.headers },
    ]);

    const [toOrders, toBilling] = await publish(['/orders', '/billing']);
    expect(verify(toOrders, rotatedSecret)).toBeDefined();
    expect(verify(toOrders, orders.secret)).toBeDefined();
    expect(verify(toBilling, billing.secret)).toBeDefined();
    expect(toOrders.headers.authorization).toBe(orders.headers.Authorization);
    expect(toOrders.headers['x-tenant']).toBe(orders.headers['X-Tenant']);
    expect(toBilling.headers['x-api-key']).toBe(billing.headers['X-Api-Key']);

    await expectNothingInClear();
    const stored = await storedCredentials(stack.databaseUrl);
    expect(stored).toHaveLength(6);
    for (const value of stored) expect(value).toMatch(/^enc:v1:k1:[A-Za-z0-9+/]+=*$/);
  });

  it('keeps delivering through a key rotation and the re-encryption', async () => {
    // The new key first, the old one still listed: old values open, new ones seal with k2.
    await restart(`${k2},${k1}`);
    const [toOrders, toBilling] = await publish(['/orders', '/billing']);
    expect(verify(toOrders, rotatedSecret)).toBeDefined();
    expect(verify(toBilling, billing.secret)).toBeDefined();
    expect(toOrders.headers.authorization).toBe(orders.headers.Authorization);
    const shipping = await subscribe('/shipping', { 'X-Shipping': token('shipping') });
    const prefixes = (await storedCredentials(stack.databaseUrl)).map((value) =>
      value.slice(0, 'enc:v1:k1:'.length),
    );
    expect(prefixes.sort()).toEqual([
      ...Array(6).fill('enc:v1:k1:'),
      ...Array(2).fill('enc:v1:k2:'),
    ]);

    const reencrypt = () =>
      run(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/secrets.ts', 'reencrypt'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: stack.databaseUrl,
          ENCRYPTION_KEYS: `${k2},${k1}`,
        },
      });
    const first = await reencrypt();
    expect(first.stdout).toMatch(/re-encrypted 2 webhook\(s\) with key "k2"/);
    // Idempotent: nothing is left under the old key.
    const again = await reencrypt();
    expect(again.stdout).toMatch(/re-encrypted 0 webhook\(s\) with key "k2"/);
    logs += first.stdout + first.stderr + again.stdout + again.stderr;
    for (const value of await storedCredentials(stack.databaseUrl)) {
      expect(value).toMatch(/^enc:v1:k2:/);
    }

    // The old key retired: everything still opens.
    await restart(k2);
    const [orders2, billing2, shipping2] = await publish(['/orders', '/billing', '/shipping']);
    expect(verify(orders2, rotatedSecret)).toBeDefined();
    expect(verify(billing2, billing.secret)).toBeDefined();
    expect(verify(shipping2, shipping.secret)).toBeDefined();
    expect(shipping2.headers['x-shipping']).toBe(shipping.headers['X-Shipping']);
    expect(billing2.headers['x-api-key']).toBe(billing.headers['X-Api-Key']);
    await expectNothingInClear();
  });

  it('holds deliveries unsent while their key is missing, and sends them once it is back', async () => {
    // k2 dropped by mistake: nothing can be signed, so nothing is sent, and it is said why.
    await restart(k3);
    const published = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'order.paid',
      account_id: account,
      data: {},
    });
    const failedAttempt = await eventually(
      async () => {
        const list = await stack.api.get<{ data: (Delivery & { id: string })[] }>(
          `/v1/deliveries?event_id=${published.body.id}&webhook_id=${orders.id}`,
        );
        const [delivery] = list.body.data;
        expect(delivery?.status).toBe('retrying');
        return (await stack.api.get<Delivery>(`/v1/deliveries/${delivery.id}`)).body;
      },
      { timeoutMs: 20_000 },
    );
    expect(failedAttempt.attempts[0].error).toBe(
      "not sent: the service cannot decrypt this webhook's secret or headers",
    );
    const received = (path: string) =>
      receiver.requestsTo(path).filter((r) => r.headers['webhook-id'] === published.body.id);
    expect(received('/orders')).toEqual([]);
    expect(stack.worker.logs()).toMatch(
      /a value is encrypted with key \\?"k2\\?", which ENCRYPTION_KEYS does not list/,
    );

    // The api still shows the webhook (and the rest of the list), saying what is wrong, and
    // a write to it answers with what it did rather than failing after committing.
    const unreadable = /encrypted with key "k2", which ENCRYPTION_KEYS does not list/;
    const listed = await stack.api.get<WebhookAnswer[]>(`/v1/webhooks?account_id=${account}`);
    expect(listed.status).toBe(200);
    const shown = listed.body.find((webhook) => webhook.id === orders.id);
    expect(shown).toMatchObject({
      headers: {},
      credentials_error: expect.stringMatching(unreadable),
    });
    const one = await stack.api.get<WebhookAnswer>(`/v1/webhooks/${orders.id}`);
    expect(one.status).toBe(200);
    expect(one.body.credentials_error).toMatch(unreadable);
    const renamed = await stack.api.patch<WebhookAnswer>(`/v1/webhooks/${orders.id}`, {
      description: 'orders (key missing)',
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({
      description: 'orders (key missing)',
      credentials_error: expect.stringMatching(unreadable),
    });

    await restart(`${k3},${k2}`);
    const [late] = await eventually(
      () => {
        const requests = received('/orders');
        expect(requests).toHaveLength(1);
        return requests;
      },
      { timeoutMs: 30_000 },
    );
    expect(verify(late, rotatedSecret)).toBeDefined();
    expect(late.headers.authorization).toBe(orders.headers.Authorization);
    const healed = await stack.api.get<WebhookAnswer>(`/v1/webhooks/${orders.id}`);
    expect(healed.body).toMatchObject({ headers: orders.headers, credentials_error: null });
  });

  it('lets a rotation recover a webhook whose secret cannot be decrypted: the new one signs at once', async () => {
    // Sealed with the first key, k3 (the keys are k3,k2 now); then k3 goes missing.
    const lost = await subscribe('/lost', {});
    await restart(k2);
    const rotated = await stack.api.post<CreatedWebhook & { credentials_error: string | null }>(
      `/v1/webhooks/${lost.id}/rotate-secret`,
      {},
    );
    expect(rotated.status).toBe(200);
    secretsAndValues.push(rotated.body.secret);
    // The old secret is not kept for the grace period: it could not sign, and would hold
    // every request back for a day.
    expect(rotated.body.credentials_error).toBeNull();
    const [request] = await publish(['/lost']);
    expect(verify(request, rotated.body.secret)).toBeDefined();
  });

  it('never writes a secret, a header value or a key into its logs', async () => {
    logs += stack.apiProcess.logs() + stack.worker.logs();
    expect(logs.length).toBeGreaterThan(1000);
    for (const value of [...secretsAndValues, material(k1), material(k2), material(k3)]) {
      expect(logs.includes(value) ? value : 'absent').toBe('absent');
    }
  });

  it.each([
    ['without ENCRYPTION_KEYS', { ENCRYPTION_KEYS: '' }, /ENCRYPTION_KEYS: is required/],
    [
      'with a key of the wrong length',
      { ENCRYPTION_KEYS: `short:${randomBytes(16).toString('base64')}` },
      /ENCRYPTION_KEYS: entry 1 \("short"\): the key must be 32 bytes \(AES-256\), got 16 bytes/,
    ],
  ])('refuses to start %s', async (_what, overrides, message) => {
    for (const name of ['api', 'worker'] as const) {
      const app = await AppProcess.launch(name, { ...stack.env, ...overrides });
      await eventually(() => expect(app.alive).toBe(false), { timeoutMs: 20_000 });
      expect(await app.stop()).toEqual({ code: 1, signal: null });
      expect(app.logs()).toMatch(message);
    }
  });

  it.each(['api', 'worker'] as const)(
    'starts the %s without a key when told to run unencrypted',
    async (name) => {
      // AppProcess.start waits for /health/ready to answer 200.
      const app = await AppProcess.start(name, {
        ...stack.env,
        ENCRYPTION_KEYS: '',
        ENCRYPTION_ALLOW_PLAINTEXT: 'true',
      });
      await app.stop();
    },
  );
});
