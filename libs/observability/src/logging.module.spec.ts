import { Controller, Get, INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { storage } from 'nestjs-pino/storage';
import { ConfigModule, loadConfig } from '@libs/config';
import { TEST_ENCRYPTION_KEYS } from '@libs/testing';
import { LoggingModule } from './logging.module';

/** Answers whether the request runs inside nestjs-pino's AsyncLocalStorage context. */
@Controller('probe')
class ContextProbeController {
  @Get()
  context(): { entered: boolean } {
    return { entered: storage.getStore() !== undefined };
  }
}

@Module({})
class ProbeAppModule {}

describe('LoggingModule', () => {
  let app: INestApplication;

  beforeAll(async () => {
    const config = loadConfig({
      KAFKA_BROKERS: '127.0.0.1:9',
      DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none',
      ADMIN_API_KEY: 'logging-spec-admin-key',
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    });
    app = await NestFactory.create(
      {
        module: ProbeAppModule,
        imports: [ConfigModule.forRoot(config), LoggingModule],
        controllers: [ContextProbeController],
      },
      { logger: false },
    );
    await app.listen(0, '127.0.0.1');
  });

  afterAll(() => app.close());

  // Entering the context once turns promise hooks on for the whole process (Node 20): every
  // promise of the worker's hot path would pay for it after the first health probe.
  it('enters no per-request logging context', async () => {
    const response = await fetch(`${await app.getUrl()}/probe`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ entered: false });
  });
});
