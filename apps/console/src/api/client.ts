import createClient, { type Middleware } from 'openapi-fetch';
import { storedKey } from '../session';
import type { components, paths } from './openapi.generated';

export type Schemas = components['schemas'];
export type Delivery = Schemas['DeliveryResponse'];
export type DeliveryWithAttempts = Schemas['DeliveryWithAttemptsResponse'];
export type Attempt = Schemas['AttemptResponse'];
export type Webhook = Schemas['WebhookResponse'];
export type WebhookStats = Schemas['WebhookStatsResponse'];
export type EventWithDeliveries = Schemas['EventResponse'];
export type StatsOverview = Schemas['StatsOverviewResponse'];
export type DeliveryStatus = Delivery['status'];

/**
 * Every status, in lifecycle order. Keyed by the type generated from the api's document, so
 * a status the api adds or drops fails the console's build instead of hiding from its filter.
 */
const STATUS_ORDER: Record<DeliveryStatus, number> = {
  pending: 0,
  delivering: 1,
  succeeded: 2,
  retrying: 3,
  failed: 4,
  discarded: 5,
};
export const DELIVERY_STATUSES = (Object.keys(STATUS_ORDER) as DeliveryStatus[]).sort(
  (a, b) => STATUS_ORDER[a] - STATUS_ORDER[b],
);

/** An error answer of the api, `{ statusCode, error, message }`, or a network failure (0). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const authorization: Middleware = {
  onRequest({ request }) {
    const key = storedKey();
    if (key !== null) request.headers.set('authorization', `Bearer ${key}`);
    return request;
  },
};

/** The api, typed by its own OpenAPI document: a changed route fails the console's build. */
export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(authorization);

let onUnauthorized: () => void = () => undefined;

/** What to do when the key stops working (revoked, or the admin key changed): sign out. */
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

/**
 * The data of an openapi-fetch answer, or an ApiProblem carrying the api's message. Network
 * failures become status 0 with a readable message.
 */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let answer: { data?: T; error?: unknown; response: Response };
  try {
    answer = await call;
  } catch (error) {
    throw new ApiProblem(0, `The api did not answer: ${String(error)}`);
  }
  const { data, error, response } = answer;
  if (response.ok) return data as T;
  if (response.status === 401) onUnauthorized();
  throw new ApiProblem(response.status, messageOf(error) ?? `HTTP ${response.status}`);
}

function messageOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('message' in error)) return undefined;
  const { message } = error;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : undefined;
}
