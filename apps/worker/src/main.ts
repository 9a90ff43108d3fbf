import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { loadConfigOrExit, withGenericPlans } from '@libs/config';
import { waitForKafkaAccess } from '@libs/observability';
import {
  kafkaConsumerOptions,
  onUnrecoverableConsumerCrash,
} from './consumption/kafka-consumer.options';
import { WorkerModule } from './worker.module';

async function bootstrap(): Promise<void> {
  // Its hot statements are prepared once per connection; planned once too (see DatabaseConfig).
  const config = withGenericPlans(loadConfigOrExit('worker'));
  const kafkaMode = config.delivery.mode === 'kafka';
  // A refused password or certificate: one log line, readiness 503, no crash loop.
  if (kafkaMode) await waitForKafkaAccess(config, config.http.workerPort);
  const app = await NestFactory.create(WorkerModule.register(config), { bufferLogs: true });
  app.useLogger(app.get(Logger));
  // Direct mode: no Kafka consumer at all; the direct-mode lanes are the only source.
  const consumer = kafkaMode ? app.connectMicroservice(kafkaConsumerOptions(config)) : null;
  // SIGTERM: finish in-flight deliveries and commit their offsets before exiting.
  app.enableShutdownHooks();
  await app.init();
  if (consumer) {
    await app.startAllMicroservices();
    onUnrecoverableConsumerCrash(consumer, (error) => {
      console.error(`Kafka consumer stopped for good, exiting: ${error.stack ?? error.message}`);
      void app.close().finally(() => process.exit(1));
    });
  }
  await app.listen(config.http.workerPort);
}

bootstrap().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
