export * from './data-source';
export * from './database-errors';
export * from './direct-work-signal';
export * from './entities';
export * from './persistence.module';
export * from './repositories';
export * from './plain-sql';
