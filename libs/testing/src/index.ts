export * from './api-client';
export * from './app-process';
export * from './eventually';
export * from './isolated-database';
export * from './request-fuzzer';
export * from './stack';
export * from './test-environment';
export * from './webhook-receiver';
