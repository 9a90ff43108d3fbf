export * from './deadline';
export * from './kafka-access';
export * from './kafka-admin.service';
export * from './kafka-client.config';
export * from './messaging.module';
export * from './msk-iam-token.provider';
export * from './group-commit';
