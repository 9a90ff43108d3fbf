import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '@libs/config';
import { SecretsModule } from '@libs/secrets';
import { dataSourceOptions } from './data-source';
import { DirectWorkNotifier } from './direct-work-signal';
import {
  ApiKeyEntity,
  DeliveryAttemptEntity,
  DeliveryEntity,
  EventEntity,
  WebhookEntity,
} from './entities';
import {
  ApiKeyRepository,
  DeliveryHistoryRepository,
  DeliveryRepository,
  DeliveryStatsRepository,
  DirectQueueRepository,
  FirstAttemptRepository,
  IdempotencyKeyRepository,
  RetentionRepository,
  WebhookRepository,
} from './repositories';

const REPOSITORIES = [
  WebhookRepository,
  DeliveryRepository,
  DeliveryHistoryRepository,
  DeliveryStatsRepository,
  ApiKeyRepository,
  IdempotencyKeyRepository,
  RetentionRepository,
  DirectQueueRepository,
  FirstAttemptRepository,
  DirectWorkNotifier,
];

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: ({ database }: AppConfig) =>
        dataSourceOptions(database.url, undefined, { genericPlans: database.genericPlans }),
    }),
    TypeOrmModule.forFeature([
      WebhookEntity,
      EventEntity,
      DeliveryEntity,
      DeliveryAttemptEntity,
      ApiKeyEntity,
    ]),
    SecretsModule,
  ],
  providers: REPOSITORIES,
  // Webhook rows hold sealed credentials: whoever reads them gets the means to open them.
  exports: [...REPOSITORIES, TypeOrmModule, SecretsModule],
})
export class PersistenceModule {}
