import { loadConfig } from '@libs/config';
import { WebhookEventMessage } from '@libs/contracts';
import {
  AccountRouting,
  ClaimedDelivery,
  FirstAttemptRepository,
  LiveWebhook,
  Looked,
} from '@libs/persistence';
import { SAMPLE_ENVIRONMENT } from '@libs/testing';
import { AttemptDeliveryUseCase, Slot } from './attempt-delivery.use-case';
import { SendFirstUseCase } from './send-first.use-case';

/**
 * The routing cache's rules, with the repository as a table in memory: an account's webhooks
 * serve an event only when read at its account's counter or later, and a webhook that
 * answered 410 Gone is left out until its disabling moves the counter.
 */
describe('SendFirstUseCase routing', () => {
  const webhook = (id: string, eventTypes = ['*']): LiveWebhook => ({
    id,
    eventTypes,
    url: `https://example.com/${id}`,
    headers: {},
    secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    credentialsError: null,
    rateLimitPerS: null,
  });
  let table: Map<string, AccountRouting>;
  let routingReads: number;
  let answer: 'ok' | 'gone';
  let useCase: SendFirstUseCase;

  const event = (id: string, type = 'user.created'): WebhookEventMessage => ({
    id,
    type,
    account_id: 'acme',
    data: {},
    timestamp: new Date().toISOString(),
  });
  const source = { partition: 0, offset: '0', bytes: 10 };
  const version = () => table.get('acme')?.version ?? 0n;

  beforeEach(() => {
    table = new Map([
      ['acme', { version: 1n, webhooks: [webhook('a'), webhook('b', ['order.*'])] }],
    ]);
    routingReads = 0;
    answer = 'ok';
    const repository = {
      look: async (items: { accountId: string }[]): Promise<Looked[]> =>
        items.map(() => ({ stored: false, version: version() })),
      routing: async (accounts: string[]) => {
        routingReads += 1;
        return new Map(accounts.map((account) => [account, structuredClone(table.get(account)!)]));
      },
    } as unknown as FirstAttemptRepository;
    const attempts = {
      leaseMs: 40_000,
      sendUnstored: async (_delivery: ClaimedDelivery, slot: Slot) =>
        slot(async () => ({
          attempt: {
            trigger: 'scheduled' as const,
            startedAt: new Date(),
            durationMs: 1,
            responseStatus: answer === 'ok' ? 200 : 410,
            responseBody: '',
            error: answer === 'ok' ? null : 'HTTP 410',
          },
          transition:
            answer === 'ok'
              ? { status: 'succeeded' as const }
              : {
                  status: 'discarded' as const,
                  disableWebhookReason: 'receiver answered 410 Gone',
                },
        })),
    } as unknown as AttemptDeliveryUseCase;
    useCase = new SendFirstUseCase(repository, attempts, loadConfig({ ...SAMPLE_ENVIRONMENT }));
  });

  it("routes an event to its account's live webhooks subscribed to its type, from the cache while the counter stands", async () => {
    const first = await useCase.prepare(
      event('e1'),
      source,
      (await useCase.look(event('e1'))).version,
    );
    expect(first.webhooks.map((w) => w.id)).toEqual(['a']);
    const second = await useCase.prepare(event('e2', 'order.paid'), source, 1n);
    expect(second.webhooks.map((w) => w.id)).toEqual(['a', 'b']);
    expect(routingReads).toBe(1);
    // A change: the counter moves, and an event looked up after it is routed afresh.
    table.set('acme', { version: 2n, webhooks: [webhook('b', ['order.*'])] });
    const looked = await useCase.look(event('e3', 'order.paid'));
    const third = await useCase.prepare(event('e3', 'order.paid'), source, looked.version);
    expect(third.webhooks.map((w) => w.id)).toEqual(['b']);
    expect(routingReads).toBe(2);
    // Right before a request the webhook is read as it is now.
    expect(await useCase.current(first, 'a')).toBeNull();
    expect((await useCase.current(third, 'b'))?.id).toBe('b');
  });

  it('sends no more to a webhook that answered 410 Gone, until its disabling moves the counter', async () => {
    const unstored = await useCase.prepare(event('e1'), source, 1n);
    answer = 'gone';
    const [delivery] = unstored.deliveries;
    const outcome = await useCase.send(unstored, delivery, unstored.webhooks[0], (work) => work());
    expect(outcome.transition.status).toBe('discarded');
    expect((await useCase.prepare(event('e2'), source, 1n)).webhooks).toEqual([]);
    expect(await useCase.current(unstored, 'a')).toBeNull();
    // Enabled again later (a new version): sent to again.
    table.set('acme', { version: 3n, webhooks: [webhook('a')] });
    const later = await useCase.prepare(
      event('e3'),
      source,
      (await useCase.look(event('e3'))).version,
    );
    expect(later.webhooks.map((w) => w.id)).toEqual(['a']);
  });
});
