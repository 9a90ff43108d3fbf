import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { DeliveryEntity } from '../entities';

/** Deliveries created in one minute, by the outcome they have now. */
export interface MinuteCounts {
  /** Start of the minute. */
  minute: Date;
  created: number;
  succeeded: number;
  failed: number;
}

/** Aggregates over the delivery history for dashboards; reads only. */
@Injectable()
export class DeliveryStatsRepository {
  constructor(
    @InjectRepository(DeliveryEntity) private readonly deliveries: Repository<DeliveryEntity>,
  ) {}

  /**
   * Minutes since `since` that saw deliveries, oldest first (empty minutes are absent).
   * Grouping on created_at keeps the scan a range of the (account_id,) created_at index.
   */
  async perMinute(since: Date, accountId?: string): Promise<MinuteCounts[]> {
    const accountFilter = accountId === undefined ? '' : 'AND account_id = $2';
    const rows: { minute: Date; created: number; succeeded: number; failed: number }[] =
      await this.deliveries.query(
        `SELECT date_trunc('minute', created_at) AS minute,
                count(*)::int AS created,
                count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
                count(*) FILTER (WHERE status = 'failed')::int AS failed
         FROM deliveries
         WHERE created_at >= $1 ${accountFilter}
         GROUP BY 1
         ORDER BY 1`,
        accountId === undefined ? [since] : [since, accountId],
      );
    return rows.map((row) => ({ ...row, minute: new Date(row.minute) }));
  }
}
