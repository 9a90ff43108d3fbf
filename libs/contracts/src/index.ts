export * from './date-time';
export * from './identifiers';
export * from './json-depth';
export * from './topics';
export * from './validation';
export * from './webhook-event';
