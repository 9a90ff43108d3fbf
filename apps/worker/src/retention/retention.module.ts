import { Module } from '@nestjs/common';
import { DeliveryModule } from '@libs/delivery';
import { RetentionScheduler } from './retention.scheduler';

@Module({
  imports: [DeliveryModule],
  providers: [RetentionScheduler],
})
export class RetentionModule {}
