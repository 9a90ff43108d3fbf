export * from './field-cipher';
export * from './secrets.errors';
export * from './secrets.module';
export * from './webhook-credentials';
