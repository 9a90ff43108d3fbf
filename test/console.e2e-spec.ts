import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import {
  Stack,
  TEST_ADMIN_KEY,
  WebhookReceiver,
  chromiumExecutable,
  eventually,
} from '@libs/testing';

interface CreatedWebhook {
  id: string;
  secret: string;
}

interface DeliveryPage {
  data: { id: string; status: string; account_id: string; attempt_count: number }[];
}

/**
 * The delivery console in a real browser (Debian's Chromium driven by playwright-core), on
 * the built api and worker. The screenshots in docs/ come from here: `UPDATE_SCREENSHOTS=1`
 * rewrites them, otherwise they are taken and thrown away so CI leaves the tree clean.
 */
const SCREENSHOTS = join(__dirname, '..', 'docs');
const VIEWPORT = { width: 1366, height: 768 };

describe('delivery console (e2e, browser)', () => {
  const receiver = new WebhookReceiver();
  const acme = `acme-${randomUUID().slice(0, 6)}`;
  const globex = `globex-${randomUUID().slice(0, 6)}`;
  const hooks: Record<'orders' | 'users' | 'globex', CreatedWebhook> = {
    orders: { id: '', secret: '' },
    users: { id: '', secret: '' },
    globex: { id: '', secret: '' },
  };
  const scriptErrors: string[] = [];
  let usersAnswer = 503;
  let stack: Stack;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const [executablePath] = await Promise.all([
      chromiumExecutable(),
      receiver.start(),
      (async () => {
        // One attempt now, the next only in ten minutes: the attempts seen here are the
        // first and the ones the console asks for.
        stack = await Stack.start({ RETRY_SCHEDULE: '0,600', RETRY_POLL_INTERVAL_MS: '100' });
      })(),
    ]);
    browser = await chromium.launch({ executablePath, headless: true });
    page = await browser.newPage({ viewport: VIEWPORT });
    page.on('pageerror', (error) => scriptErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') scriptErrors.push(message.text());
    });

    receiver.reply('/acme/users', () => ({
      status: usersAnswer,
      headers: { 'content-type': 'application/json' },
      body: usersAnswer === 200 ? '{"ok":true}' : '{"error":"down for maintenance"}',
    }));
    const create = async (name: keyof typeof hooks, account: string, types: string[]) => {
      const answer = await stack.api.post<CreatedWebhook>('/v1/webhooks', {
        account_id: account,
        url: receiver.url(name === 'globex' ? '/globex' : `/acme/${name}`),
        event_types: types,
        description: `${name} receiver`,
      });
      expect(answer.status).toBe(201);
      hooks[name] = answer.body;
    };
    await create('orders', acme, ['order.*']);
    await create('users', acme, ['user.*']);
    await create('globex', globex, ['*']);
    const events: [string, string][] = [
      [acme, 'user.created'],
      [acme, 'order.paid'],
      [acme, 'order.paid'],
      [acme, 'user.updated'],
      [acme, 'order.refunded'],
      [globex, 'user.created'],
    ];
    for (const [account, type] of events) {
      const answer = await stack.api.post('/v1/events', {
        type,
        account_id: account,
        data: { user_id: 'u-1', email: 'ada@example.com' },
      });
      expect(answer.status).toBe(202);
    }
    await eventually(
      async () => {
        const all = await stack.api.get<DeliveryPage>('/v1/deliveries?limit=100');
        expect(all.body.data).toHaveLength(events.length);
        expect(all.body.data.every((delivery) => delivery.attempt_count === 1)).toBe(true);
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await receiver.stop();
  });

  const consoleUrl = () => `${stack.apiProcess.url}/console`;

  const nav = (name: string) =>
    page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name });

  /** Visible text of the rows of the first table on the page. */
  const rows = () => page.locator('main table tbody tr');

  /**
   * The delivery ids of the rows, read in one go: row by row, a re-render between the count
   * and a read (the previous page still shown when the new one arrives) would leave the read
   * waiting for a row that no longer exists.
   */
  function deliveryIds(): Promise<(string | null)[]> {
    return rows().evaluateAll((found) => found.map((row) => row.getAttribute('data-delivery-id')));
  }

  async function screenshot(name: string): Promise<void> {
    const shot = await page.screenshot({ fullPage: false });
    expect(shot.length).toBeGreaterThan(10_000);
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await mkdir(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, name) });
    }
  }

  async function signIn(key: string): Promise<void> {
    await page.goto(consoleUrl());
    const field = page.getByLabel('API key');
    await field.fill(key);
    await field.press('Enter');
  }

  it('is served with a strict Content-Security-Policy, no framing and no caching of the page', async () => {
    const html = await fetch(consoleUrl());
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('cache-control')).toBe('no-store');
    expect(html.headers.get('x-frame-options')).toBe('DENY');
    const csp = html.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(await html.text()).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const script = await fetch(`${consoleUrl()}/console.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${consoleUrl()}/main.ts`)).status).toBe(404);
  });

  it('refuses a wrong key, then signs in with the admin key typed and submitted from the keyboard', async () => {
    await signIn('not-a-key');
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Invalid API key');

    await signIn(TEST_ADMIN_KEY);
    await page.getByTestId('identity').getByText('Admin key').waitFor();
    expect(page.url()).not.toContain(TEST_ADMIN_KEY);
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(await page.evaluate('Object.values(sessionStorage)')).toEqual([TEST_ADMIN_KEY]);
    await eventually(async () => expect(await rows().count()).toBe(6));
  });

  it('filters deliveries by account, event type and status, with an empty state', async () => {
    await page.getByLabel('Account').fill(acme);
    await page.getByLabel('Account').press('Enter');
    await eventually(async () => expect(await rows().count()).toBe(5));
    await page.getByLabel('Account').blur();
    await screenshot('console-deliveries.png');
    const newestFirst = await deliveryIds();

    // Keyset paging, two at a time: every delivery once, in the same order, then back.
    await page.goto(`${consoleUrl()}#/deliveries?account_id=${acme}&limit=2`);
    await eventually(async () => expect(await deliveryIds()).toEqual(newestFirst.slice(0, 2)));
    const older = page.getByRole('button', { name: 'Older' });
    await older.click();
    await eventually(async () => expect(await deliveryIds()).toEqual(newestFirst.slice(2, 4)));
    await older.click();
    await eventually(async () => expect(await deliveryIds()).toEqual(newestFirst.slice(4)));
    expect(await older.isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Newer' }).click();
    await eventually(async () => expect(await deliveryIds()).toEqual(newestFirst.slice(2, 4)));

    await page.getByLabel('Event type').fill('user.created');
    await page.getByLabel('Status').selectOption('retrying');
    await page.getByRole('button', { name: 'Apply' }).click();
    await eventually(async () => expect(await rows().count()).toBe(1));
    expect(await rows().first().textContent()).toContain('retrying');
    expect(await rows().first().textContent()).toContain('user.created');
    expect(decodeURIComponent(page.url())).toContain(`status=retrying`);

    await page.getByLabel('Event type').fill('nothing.here');
    await page.getByLabel('Event type').press('Enter');
    await page.getByText('No delivery matches these filters.').waitFor();

    await page.getByLabel('Event type').fill('user.created');
    await page.getByLabel('Event type').press('Enter');
    await eventually(async () => expect(await rows().count()).toBe(1));
  });

  it('opens a delivery with its attempts, retries it and shows the new attempt', async () => {
    const link = rows().first().getByRole('link').first();
    await link.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Delivery/ }).waitFor();
    const attempts = page.locator('table.attempts tbody tr');
    await eventually(async () => expect(await attempts.count()).toBe(1));
    const first = await attempts.first().textContent();
    expect(first).toContain('HTTP 503');
    expect(first).toContain('scheduled');

    usersAnswer = 200;
    await page.getByRole('button', { name: 'Retry now' }).click();
    await page.getByRole('status').getByText('Retry queued').waitFor();
    await eventually(
      async () => {
        expect(await attempts.count()).toBe(2);
        const newest = await attempts.first().textContent();
        expect(newest).toContain('manual');
        expect(newest).toContain('HTTP 200');
      },
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    await page.locator('h1 .badge-succeeded').waitFor();
    await attempts.last().locator('details summary').click();
    await page.getByText('down for maintenance').last().waitFor();
    await screenshot('console-delivery.png');
  });

  it("shows a webhook's 24 h health, replays its deliveries since a time and rotates its secret once", async () => {
    await nav('Webhooks').click();
    const orders = page.locator(`tr[data-webhook-id="${hooks.orders.id}"]`);
    await eventually(async () => expect(await orders.textContent()).toContain('100 %'));
    await orders.getByRole('link').click();
    await page.getByTestId('success-rate').getByText('100 %').waitFor();

    const before = receiver.requestsTo('/acme/orders').length;
    expect(before).toBe(3);
    await page.getByRole('button', { name: 'Replay' }).click();
    await page.getByRole('status').getByText('Replay queued 3 deliveries.').waitFor();
    await eventually(() => expect(receiver.requestsTo('/acme/orders')).toHaveLength(6), {
      timeoutMs: 20_000,
    });

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const shown = page.getByTestId('new-secret');
    await shown.waitFor();
    const secret = await shown.inputValue();
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(hooks.orders.secret);
    await page.getByRole('button', { name: 'I have saved it' }).click();
    expect(await page.getByTestId('new-secret').count()).toBe(0);

    const published = await stack.api.post<{ id: string }>('/v1/events', {
      type: 'order.paid',
      account_id: acme,
      data: { after: 'rotation' },
    });
    const request = await eventually(() => {
      const match = receiver
        .requestsTo('/acme/orders')
        .find((entry) => entry.headers['webhook-id'] === published.body.id);
      expect(match).toBeDefined();
      return match!;
    });
    expect(() =>
      new Webhook(secret).verify(request.body, {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': String(request.headers['webhook-signature']),
      }),
    ).not.toThrow();

    await page.getByRole('button', { name: 'Disable' }).click();
    await page.locator('.title-row .badge-disabled').waitFor();
    expect(
      (await stack.api.get<{ enabled: boolean }>(`/v1/webhooks/${hooks.orders.id}`)).body,
    ).toMatchObject({ enabled: false });
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.locator('.title-row .badge-enabled').waitFor();
  });

  it('looks an event up by id and shows the consumer lag and deliveries per minute', async () => {
    const delivery = (
      await stack.api.get<{ data: { id: string; event_id: string }[] }>(
        `/v1/deliveries?webhook_id=${hooks.globex.id}`,
      )
    ).body.data[0];
    await nav('Events').click();
    await page.getByLabel('Event id').fill(delivery.event_id);
    await page.getByLabel('Event id').press('Enter');
    await eventually(async () => expect(await rows().count()).toBe(1));
    expect(await rows().first().getAttribute('data-delivery-id')).toBe(delivery.id);

    await nav('Overview').click();
    const lastHour = page.getByTestId('deliveries-last-hour');
    await lastHour.waitFor();
    expect(Number(await lastHour.textContent())).toBeGreaterThanOrEqual(7);
    expect(await page.getByTestId('consumer-lag').textContent()).toMatch(/^\d+$/);
  });

  it('with an account key, shows only that account, exactly as the API enforces', async () => {
    const created = await stack.api.post<{ key: string }>(`/v1/accounts/${globex}/api-keys`, {});
    expect(created.status).toBe(201);
    const acmeDelivery = (
      await stack.api.get<DeliveryPage>(`/v1/deliveries?account_id=${acme}&limit=1`)
    ).body.data[0].id;

    await page.getByRole('button', { name: 'Sign out' }).click();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await signIn(created.body.key);
    await page.getByTestId('identity').getByText(`Account ${globex}`).waitFor();
    await page.goto(`${consoleUrl()}#/deliveries`);
    await eventually(async () => expect(await rows().count()).toBe(1));
    expect(await page.locator(`tr[data-delivery-id="${acmeDelivery}"]`).count()).toBe(0);
    expect(await page.getByLabel('Account').count()).toBe(0);
    // The first page follows new deliveries by itself.
    await stack.api.post('/v1/events', { type: 'user.deleted', account_id: globex, data: {} });
    await eventually(async () => expect(await rows().count()).toBe(2), { timeoutMs: 20_000 });
    expect(await rows().first().textContent()).toContain('user.deleted');

    await page.goto(`${consoleUrl()}#/deliveries/${acmeDelivery}`);
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/404.*not found/);

    await page.goto(`${consoleUrl()}#/deliveries?account_id=${acme}`);
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/403/);

    await page.goto(`${consoleUrl()}#/webhooks`);
    await eventually(async () => expect(await rows().count()).toBe(1));
    expect(await rows().first().getAttribute('data-webhook-id')).toBe(hooks.globex.id);

    await page.goto(`${consoleUrl()}#/overview`);
    await page.getByText('shown to the admin key only').waitFor();
  });

  it('GET /v1/stats/overview scopes its figures like every /v1 route, and gives the lag to the admin only', async () => {
    interface Overview {
      account_id: string | null;
      deliveries_per_minute: { minute: string; created: number; succeeded: number }[];
      consumer_lag: { total: number; partitions: { partition: number; lag: number }[] } | null;
    }
    const created = (overview: Overview) =>
      overview.deliveries_per_minute.reduce((sum, minute) => sum + minute.created, 0);

    const everyone = await stack.api.get<Overview>('/v1/stats/overview');
    expect(everyone.status).toBe(200);
    expect(everyone.body.account_id).toBeNull();
    expect(everyone.body.deliveries_per_minute).toHaveLength(60);
    expect(created(everyone.body)).toBe(8);
    expect(everyone.body.consumer_lag?.partitions.map((entry) => entry.partition)).toEqual([
      0, 1, 2, 3,
    ]);

    const ofAcme = await stack.api.get<Overview>(`/v1/stats/overview?account_id=${acme}`);
    expect(ofAcme.body.account_id).toBe(acme);
    expect(created(ofAcme.body)).toBe(6);

    const key = (await stack.api.post<{ key: string }>(`/v1/accounts/${globex}/api-keys`, {})).body
      .key;
    const own = await stack.api.withKey(key).get<Overview>('/v1/stats/overview');
    expect(own.body).toMatchObject({ account_id: globex, consumer_lag: null });
    expect(created(own.body)).toBe(2);
    expect((await stack.api.withKey(key).get(`/v1/stats/overview?account_id=${acme}`)).status).toBe(
      403,
    );
    expect((await stack.api.withKey(null).get('/v1/stats/overview')).status).toBe(401);
    expect((await stack.api.get('/v1/stats/overview?account_id=no%20spaces')).status).toBe(400);
  });

  it('ran without a script error or a Content-Security-Policy violation', () => {
    // The refused sign-in and the 404/403 pages above log their failed requests; nothing else.
    expect(scriptErrors.filter((text) => !/status of (401|403|404)/.test(text))).toEqual([]);
  });
});
