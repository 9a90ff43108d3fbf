import { Module } from '@nestjs/common';
import { ClientsModule, Transport } from '@nestjs/microservices';
import { Partitioners } from 'kafkajs';
import { AppConfig } from '@libs/config';
import { kafkaClientConfig } from '@libs/messaging';
import { PersistenceModule } from '@libs/persistence';
import { ApiMetricsModule } from '../metrics/api-metrics.module';
import { EVENTS_PRODUCER, EventPublisher } from './event-publisher';
import { EventsController } from './events.controller';
import { GetEventUseCase } from './get-event.use-case';
import { PublishEventUseCase } from './publish-event.use-case';

@Module({
  imports: [
    PersistenceModule,
    ApiMetricsModule,
    ClientsModule.registerAsync([
      {
        name: EVENTS_PRODUCER,
        inject: [AppConfig],
        useFactory: (config: AppConfig) => ({
          transport: Transport.KAFKA,
          options: {
            client: kafkaClientConfig(config.kafka, '-api'),
            postfixId: '',
            producerOnlyMode: true,
            producer: {
              // Java-compatible murmur2: the same account lands on the same partition as
              // with any other Kafka client.
              createPartitioner: Partitioners.DefaultPartitioner,
              allowAutoTopicCreation: false,
            },
            send: { acks: -1 },
          },
        }),
      },
    ]),
  ],
  controllers: [EventsController],
  providers: [EventPublisher, PublishEventUseCase, GetEventUseCase],
})
export class EventsModule {}
