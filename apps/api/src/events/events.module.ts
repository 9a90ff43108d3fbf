import { DynamicModule, Module, Provider } from '@nestjs/common';
import { ClientsModule, Transport } from '@nestjs/microservices';
import { AppConfig, DeliveryMode } from '@libs/config';
import { StoreDirectEventUseCase } from '@libs/delivery';
import { MessagingModule } from '@libs/messaging';
import { PersistenceModule } from '@libs/persistence';
import { ApiMetricsModule } from '../metrics/api-metrics.module';
import { DirectEventPublisher } from './direct-event.publisher';
import { EventPublisher } from './event-publisher';
import { EventsController } from './events.controller';
import { GetEventUseCase } from './get-event.use-case';
import {
  EVENTS_PRODUCER,
  KafkaEventPublisher,
  eventsProducerOptions,
} from './kafka-event.publisher';
import { PublishEventUseCase } from './publish-event.use-case';

const kafkaProducer = ClientsModule.registerAsync([
  {
    name: EVENTS_PRODUCER,
    inject: [AppConfig],
    useFactory: (config: AppConfig) => ({
      transport: Transport.KAFKA,
      options: eventsProducerOptions(config),
    }),
  },
]);

/** The publisher of the mode; in direct mode no Kafka client is even made. */
function publishing(mode: DeliveryMode): {
  imports: (DynamicModule | typeof MessagingModule)[];
  providers: Provider[];
} {
  return mode === 'kafka'
    ? {
        imports: [kafkaProducer, MessagingModule],
        providers: [{ provide: EventPublisher, useClass: KafkaEventPublisher }],
      }
    : {
        imports: [],
        providers: [
          StoreDirectEventUseCase,
          { provide: EventPublisher, useClass: DirectEventPublisher },
        ],
      };
}

@Module({})
export class EventsModule {
  static register(config: AppConfig): DynamicModule {
    const { imports, providers } = publishing(config.delivery.mode);
    return {
      module: EventsModule,
      imports: [PersistenceModule, ApiMetricsModule, ...imports],
      controllers: [EventsController],
      providers: [...providers, PublishEventUseCase, GetEventUseCase],
    };
  }
}
