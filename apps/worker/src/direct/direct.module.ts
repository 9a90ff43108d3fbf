import { Module } from '@nestjs/common';
import { PersistenceModule } from '@libs/persistence';
import { MetricsModule } from '../metrics/metrics.module';
import { DirectLaneScheduler } from './direct-lane.scheduler';
import { DirectQueueMetricsCollector } from './direct-queue-metrics.collector';

/** Delivery of direct-mode events; part of every worker, whatever its DELIVERY_MODE. */
@Module({
  imports: [PersistenceModule, MetricsModule],
  providers: [DirectLaneScheduler, DirectQueueMetricsCollector],
})
export class DirectModule {}
