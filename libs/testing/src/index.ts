export * from './api-client';
export * from './app-process';
export * from './chromium';
export * from './eventually';
export * from './isolated-database';
export * from './stack';
export * from './test-environment';
export * from './webhook-receiver';
