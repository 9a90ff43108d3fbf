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

/** Where a page ended: the last row's creation time (microseconds since the epoch) and seq. */
export interface DeliveryPosition {
  createdAtMicros: string;
  seq: string;
}

export interface DeliveryPage {
  deliveries: DeliveryEntity[];
  /** Where the next (older) page starts, or null on the last page. */
  next: DeliveryPosition | null;
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
   * Newest first, keyset-paginated on (created_at, seq): rows inserted while a client pages
   * never shift later pages, unlike OFFSET, and every filter is a range of one index.
   */
  async list(
    filters: DeliveryFilters,
    limit: number,
    after?: DeliveryPosition,
  ): Promise<DeliveryPage> {
    const query = this.deliveries
      .createQueryBuilder('d')
      .addSelect('(extract(epoch from d.created_at) * 1000000)::bigint::text', 'created_at_micros');
    const conditions: [string, Record<string, unknown>][] = [
      ['d.account_id = :accountId', { accountId: filters.accountId }],
      ['d.webhook_id = :webhookId', { webhookId: filters.webhookId }],
      ['d.event_id = :eventId', { eventId: filters.eventId }],
      ['d.event_type = :eventType', { eventType: filters.eventType }],
      ['d.status = :status', { status: filters.status }],
      ['d.created_at >= :since', { since: filters.since }],
      ['d.created_at < :until', { until: filters.until }],
    ];
    for (const [condition, parameters] of conditions) {
      if (Object.values(parameters)[0] !== undefined) query.andWhere(condition, parameters);
    }
    if (after) {
      // Integer microseconds: a float round trip could land one microsecond off and skip a row.
      query.andWhere(
        "(d.created_at, d.seq) < ('epoch'::timestamptz + :micros::bigint * interval '1 microsecond', :seq)",
        {
          micros: after.createdAtMicros,
          seq: after.seq,
        },
      );
    }
    const { entities, raw } = await query
      .orderBy('d.created_at', 'DESC')
      .addOrderBy('d.seq', 'DESC')
      .limit(limit + 1)
      .getRawAndEntities<{ created_at_micros: string }>();
    if (entities.length <= limit) return { deliveries: entities, next: null };
    const deliveries = entities.slice(0, limit);
    const last = deliveries[limit - 1];
    return {
      deliveries,
      next: { createdAtMicros: raw[limit - 1].created_at_micros, seq: last.seq },
    };
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

  /** Every account's event with this id (ids are unique per account only), oldest first. */
  findEvents(id: string): Promise<EventEntity[]> {
    return this.events.find({ where: { id }, order: { receivedAt: 'ASC' } });
  }

  deliveriesOfEvent(accountId: string, eventId: string): Promise<DeliveryEntity[]> {
    return this.deliveries.find({ where: { accountId, eventId }, order: { seq: 'ASC' } });
  }
}
