import { RawEvent, Stack } from './stack';
import { ReceivedRequest, WebhookReceiver } from './webhook-receiver';

/**
 * Helpers for fault tests that check per-account order: events numbered per account
 * (`data.seq`), and what a receiver saw of them.
 */
export interface Arrival {
  eventId: string;
  account: string;
  seq: number;
}

export function arrivalsOf(requests: ReceivedRequest[]): Arrival[] {
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
export function sequencedEvents(accounts: string[], perAccount: number): RawEvent[] {
  const events: RawEvent[] = [];
  for (let seq = 0; seq < perAccount; seq += 1) {
    for (const account of accounts) {
      events.push({ type: 'order.placed', account_id: account, data: { seq } });
    }
  }
  return events;
}

/** Accounts whose first arrivals did not come in their Kafka order, with the first misstep. */
export function orderViolations(arrivals: Arrival[]): string[] {
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

/** One webhook per account, on the receiver's path `/<account>`. */
export async function subscribe(stack: Stack, receiver: WebhookReceiver, accounts: string[]) {
  for (const account of accounts) {
    const created = await stack.api.post('/v1/webhooks', {
      account_id: account,
      url: receiver.url(`/${account}`),
    });
    if (created.status !== 201) throw new Error(`webhook not created: ${created.status}`);
  }
}

export function countOf(pattern: RegExp, text: string): number {
  return (text.match(new RegExp(pattern.source, 'g')) ?? []).length;
}
