import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '@libs/config';
import { dataSourceOptions } from './data-source';
import { DeliveryAttemptEntity, DeliveryEntity, EventEntity, WebhookEntity } from './entities';
import { DeliveryHistoryRepository, DeliveryRepository, WebhookRepository } from './repositories';

const REPOSITORIES = [WebhookRepository, DeliveryRepository, DeliveryHistoryRepository];

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => dataSourceOptions(config.database.url),
    }),
    TypeOrmModule.forFeature([WebhookEntity, EventEntity, DeliveryEntity, DeliveryAttemptEntity]),
  ],
  providers: REPOSITORIES,
  exports: [...REPOSITORIES, TypeOrmModule],
})
export class PersistenceModule {}
