import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '@libs/config';
import { dataSourceOptions } from './data-source';
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
];

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => dataSourceOptions(config.database.url),
    }),
    TypeOrmModule.forFeature([
      WebhookEntity,
      EventEntity,
      DeliveryEntity,
      DeliveryAttemptEntity,
      ApiKeyEntity,
    ]),
  ],
  providers: REPOSITORIES,
  exports: [...REPOSITORIES, TypeOrmModule],
})
export class PersistenceModule {}
