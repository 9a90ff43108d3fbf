export * from './api-key.repository';
export * from './delivery-history.repository';
export * from './delivery-stats.repository';
export * from './delivery.repository';
export * from './direct-queue.repository';
export * from './idempotency-key.repository';
export * from './retention.repository';
export * from './webhook.repository';
