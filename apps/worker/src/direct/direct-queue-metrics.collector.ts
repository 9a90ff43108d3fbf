import { Injectable, OnModuleInit } from '@nestjs/common';
import { Gauge, register } from 'prom-client';
import { DirectQueueRepository } from '@libs/persistence';

/**
 * Direct mode's counterpart of the consumer lag: first attempts of direct-mode events still
 * waiting, all workers together. Read at scrape time; left out while Postgres is unreachable.
 */
@Injectable()
export class DirectQueueMetricsCollector implements OnModuleInit {
  constructor(private readonly queue: DirectQueueRepository) {}

  onModuleInit(): void {
    const queue = this.queue;
    register.removeSingleMetric('webhook_direct_queue_depth');
    new Gauge({
      name: 'webhook_direct_queue_depth',
      help: 'Deliveries of direct-mode events waiting for their first attempt',
      async collect() {
        this.reset();
        const depth = await queue.depth().catch(() => null);
        if (depth !== null) this.set(depth);
      },
    });
  }
}
