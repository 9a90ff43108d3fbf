export * from './identifiers';
export * from './topics';
export * from './validation';
export * from './webhook-event';
