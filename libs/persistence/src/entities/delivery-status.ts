export const DELIVERY_STATUSES = [
  'pending',
  'delivering',
  'succeeded',
  'retrying',
  'failed',
  'discarded',
] as const;

export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const ATTEMPT_TRIGGERS = ['scheduled', 'manual'] as const;
export type AttemptTrigger = (typeof ATTEMPT_TRIGGERS)[number];
