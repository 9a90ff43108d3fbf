import { randomUUID } from 'node:crypto';

/** The event schema of the contract, with the fields in the order the api serialises them. */
export interface BenchEvent {
  id: string;
  type: string;
  account_id: string;
  campaign_id: string;
  data: { user_id: string; email: string; position: number };
  timestamp: string;
}

/** Account ids of one phase of one run, e.g. `bench-1a2b3c4d-throughput-17`. */
export function accountIds(runId: string, phase: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `bench-${runId}-${phase}-${i}`);
}

/**
 * `count` events spread round-robin over the accounts. Ids are chosen here rather than by the
 * api, so every event can be followed to the receiver from the moment it is published.
 */
export function makeEvents(count: number, accounts: string[]): BenchEvent[] {
  const campaign = randomUUID();
  return Array.from({ length: count }, (_, i) => {
    const id = randomUUID();
    return {
      id,
      type: 'user.created',
      account_id: accounts[i % accounts.length],
      campaign_id: campaign,
      data: { user_id: `user-${i}`, email: `user-${i}@example.com`, position: i },
      timestamp: new Date().toISOString(),
    };
  });
}
