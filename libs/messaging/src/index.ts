export * from './deadline';
export * from './kafka-admin.service';
export * from './kafka-client.config';
export * from './messaging.module';
