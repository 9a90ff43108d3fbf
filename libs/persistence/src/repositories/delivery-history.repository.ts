import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { DeliveryEntity, DeliveryStatus, EventEntity } from '../entities';

export interface DeliveryFilters {
  accountId?: string;
  webhookId?: string;
  eventId?: string;
  eventType?: string;
  status?: DeliveryStatus;
  since?: Date;
  until?: Date;
}

export interface DeliveryPage {
  deliveries: DeliveryEntity[];
  /** The `seq` to continue below, or null on the last page. */
  nextSeq: string | null;
}

export interface WebhookStats {
  deliveriesByStatus: Partial<Record<DeliveryStatus, number>>;
  attempts: number;
  successfulAttempts: number;
}

/** Read side of the delivery history, for the admin API. */
@Injectable()
export class DeliveryHistoryRepository {
  constructor(
    @InjectRepository(DeliveryEntity) private readonly deliveries: Repository<DeliveryEntity>,
    @InjectRepository(EventEntity) private readonly events: Repository<EventEntity>,
  ) {}

  /**
   * Newest first, keyset-paginated on `seq`: rows inserted while a client pages never
   * shift later pages, unlike OFFSET.
   */
  async list(filters: DeliveryFilters, limit: number, beforeSeq?: string): Promise<DeliveryPage> {
    const query = this.deliveries.createQueryBuilder('d');
    const conditions: [string, Record<string, unknown>][] = [
      ['d.account_id = :accountId', { accountId: filters.accountId }],
      ['d.webhook_id = :webhookId', { webhookId: filters.webhookId }],
      ['d.event_id = :eventId', { eventId: filters.eventId }],
      ['d.event_type = :eventType', { eventType: filters.eventType }],
      ['d.status = :status', { status: filters.status }],
      ['d.created_at >= :since', { since: filters.since }],
      ['d.created_at < :until', { until: filters.until }],
      ['d.seq < :beforeSeq', { beforeSeq }],
    ];
    for (const [condition, parameters] of conditions) {
      if (Object.values(parameters)[0] !== undefined) query.andWhere(condition, parameters);
    }
    const rows = await query
      .orderBy('d.seq', 'DESC')
      .limit(limit + 1)
      .getMany();
    const hasMore = rows.length > limit;
    const deliveries = hasMore ? rows.slice(0, limit) : rows;
    return { deliveries, nextSeq: hasMore ? deliveries[deliveries.length - 1].seq : null };
  }

  /** Deliveries of the webhook created since `since`, by status, and attempts made since then. */
  async webhookStats(webhookId: string, since: Date): Promise<WebhookStats> {
    const byStatus: { status: DeliveryStatus; count: number }[] = await this.deliveries.query(
      `SELECT status, count(*)::int AS count FROM deliveries
       WHERE webhook_id = $1 AND created_at >= $2
       GROUP BY status`,
      [webhookId, since],
    );
    // Retries reach back up to the schedule's length, so look at deliveries of a longer span.
    const [attempts]: { total: number; succeeded: number }[] = await this.deliveries.query(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE a.response_status BETWEEN 200 AND 299)::int AS succeeded
       FROM deliveries d
       JOIN delivery_attempts a ON a.delivery_id = d.id AND a.started_at >= $2
       WHERE d.webhook_id = $1 AND d.created_at >= $2::timestamptz - interval '2 days'`,
      [webhookId, since],
    );
    return {
      deliveriesByStatus: Object.fromEntries(byStatus.map((row) => [row.status, row.count])),
      attempts: attempts.total,
      successfulAttempts: attempts.succeeded,
    };
  }

  findById(id: string): Promise<DeliveryEntity | null> {
    return this.deliveries.findOneBy({ id });
  }

  findWithAttempts(id: string): Promise<DeliveryEntity | null> {
    return this.deliveries.findOne({
      where: { id },
      relations: { attempts: true },
      order: { attempts: { number: 'ASC' } },
    });
  }

  findEvent(id: string): Promise<EventEntity | null> {
    return this.events.findOneBy({ id });
  }

  deliveriesOfEvent(eventId: string): Promise<DeliveryEntity[]> {
    return this.deliveries.find({ where: { eventId }, order: { seq: 'ASC' } });
  }
}
