import { Module } from '@nestjs/common';
import { PersistenceModule } from '@libs/persistence';
import { DeliveriesController } from './deliveries.controller';
import { GetDeliveryUseCase } from './get-delivery.use-case';
import { ListDeliveriesUseCase } from './list-deliveries.use-case';
import { RetryDeliveryUseCase } from './retry-delivery.use-case';

@Module({
  imports: [PersistenceModule],
  controllers: [DeliveriesController],
  providers: [ListDeliveriesUseCase, GetDeliveryUseCase, RetryDeliveryUseCase],
})
export class DeliveriesModule {}
