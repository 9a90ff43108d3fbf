import { TestingModule, Test } from '@nestjs/testing';
import { ConfigModule, loadConfig } from '@libs/config';
import { WebhookReceiver, requiredVariable } from '@libs/testing';
import { DeliveryModule } from '../delivery.module';
import { RESPONSE_BODY_LIMIT_BYTES, WebhookHttpClient } from './webhook-http-client';

const modules: TestingModule[] = [];
afterAll(() => Promise.all(modules.map((module) => module.close())));

async function clientWith(env: Record<string, string>): Promise<WebhookHttpClient> {
  const config = loadConfig({
    KAFKA_BROKERS: '127.0.0.1:9',
    DATABASE_URL: requiredVariable('DATABASE_URL'),
    ADMIN_API_KEY: 'integration-admin-key',
    DELIVERY_TIMEOUT_MS: '500',
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
