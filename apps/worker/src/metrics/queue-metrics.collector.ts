import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Gauge, register } from 'prom-client';
import { DataSource } from 'typeorm';
import { KafkaAdminService } from '@libs/messaging';
import { PAUSED_THROUGH_API } from '@libs/persistence';

/**
 * Gauges read at scrape time rather than kept up to date: consumer lag (from the
 * broker) and the retry queue (from Postgres) are facts of the whole group, not of
 * this pod. While the broker or the database is out of reach a gauge is left out of the
 * scrape instead of failing it: the other metrics are what an operator needs then.
 */
@Injectable()
export class QueueMetricsCollector implements OnModuleInit {
  constructor(
    private readonly kafka: KafkaAdminService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
    const kafka = this.kafka;
    const dataSource = this.dataSource;
    register.removeSingleMetric('webhook_consumer_lag');
    register.removeSingleMetric('webhook_retry_queue_depth');
    register.removeSingleMetric('webhook_endpoints_disabled');
    new Gauge({
      name: 'webhook_consumer_lag',
      help: 'Messages of the events topic not yet committed by the consumer group',
      labelNames: ['partition'],
      async collect() {
        this.reset();
        const lags = await kafka.consumerLag().catch(() => []);
        for (const { partition, lag } of lags) {
          this.set({ partition: String(partition) }, Number(lag));
        }
      },
    });
    new Gauge({
      name: 'webhook_retry_queue_depth',
      help: 'Deliveries waiting for a scheduled retry',
      async collect() {
        this.reset();
        const rows: { count: string }[] = await dataSource
          .query(`SELECT count(*) AS count FROM deliveries WHERE status = 'retrying'`)
          .catch(() => []);
        if (rows.length > 0) this.set(Number(rows[0].count));
      },
    });
    new Gauge({
      name: 'webhook_endpoints_disabled',
      help: 'Webhooks disabled, by cause: "failing" (disabled automatically) or "api" (paused by a user)',
      labelNames: ['cause'],
      async collect() {
        this.reset();
        const rows: { cause: string; count: string }[] | null = await dataSource
          .query(
            `SELECT CASE WHEN disabled_reason = $1 THEN 'api' ELSE 'failing' END AS cause,
                    count(*) AS count
               FROM webhooks
              WHERE enabled = false AND deleted_at IS NULL
              GROUP BY 1`,
            [PAUSED_THROUGH_API],
          )
          .catch(() => null);
        if (rows === null) return;
        // Both series always exist, so an alert on an increase sees the step from zero.
        this.set({ cause: 'failing' }, 0);
        this.set({ cause: 'api' }, 0);
        for (const row of rows) this.set({ cause: row.cause }, Number(row.count));
      },
    });
  }
}
