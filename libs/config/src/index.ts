export * from './app-config';
export { DEFAULT_RETRY_SCHEDULE_SECONDS } from './config.schema';
export * from './config.module';
export { ENCRYPTION_KEY_BYTES, EncryptionConfig, EncryptionKey } from './encryption-keys';
export * from './load-config-or-exit';
