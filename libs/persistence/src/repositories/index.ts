export * from './delivery-history.repository';
export * from './delivery.repository';
export * from './webhook.repository';
