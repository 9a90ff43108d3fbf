export * from './data-source';
export * from './database-errors';
export * from './direct-work-signal';
export { ResealReport } from './encryption/reseal-webhook-credentials';
export * from './entities';
export * from './persistence.module';
export * from './repositories';
export * from './plain-sql';
