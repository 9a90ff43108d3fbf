export * from './health.module';
export * from './logging.module';
export * from './metrics.module';
export * from './kafka-access.gate';
