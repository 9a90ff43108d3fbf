import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { loadConfigOrExit } from '@libs/config';
import { waitForKafkaAccess } from '@libs/observability';
import { ApiModule } from './api.module';
import { apiHttpAdapter, configureApi, everyInterface } from './configure-api';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('api');
  // A refused password or certificate: one log line, readiness 503, no crash loop. Direct
  // mode does not use Kafka at all.
  if (config.delivery.mode === 'kafka') await waitForKafkaAccess(config, config.http.apiPort);
  const app = await NestFactory.create<NestFastifyApplication>(
    ApiModule.register(config),
    apiHttpAdapter(config),
    { bufferLogs: true, bodyParser: false },
  );
  app.useLogger(app.get(Logger));
  configureApi(app, config);
  app.enableShutdownHooks();
  await app.listen(config.http.apiPort, everyInterface());
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
