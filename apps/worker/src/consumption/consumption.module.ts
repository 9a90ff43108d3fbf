import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { DeadLetterPublisher } from './dead-letter.publisher';
import { EventDispatcher } from './event-dispatcher';
import { EventsConsumer } from './events.consumer';

@Module({
  imports: [MetricsModule],
  controllers: [EventsConsumer],
  providers: [EventDispatcher, DeadLetterPublisher],
})
export class ConsumptionModule {}
