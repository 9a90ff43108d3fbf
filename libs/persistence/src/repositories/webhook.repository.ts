import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { WebhookEntity } from '../entities';
import { PlainQuery, plainQuery } from '../plain-sql';
import { discardWaitingDeliveries } from './delivery.repository';

/** `secret` and the `headers` values arrive sealed (WebhookCredentials), bound to `id`. */
export interface NewWebhook {
  id: string;
  accountId: string;
  url: string;
  eventTypes: string[];
  description: string | null;
  headers: Record<string, string>;
  secret: string;
  rateLimitPerS: number | null;
}

export type WebhookChanges = Partial<
  Pick<
    WebhookEntity,
    'url' | 'eventTypes' | 'description' | 'headers' | 'enabled' | 'rateLimitPerS'
  >
>;

/** A webhook as seen when choosing where an event goes. */
export interface Subscriber {
  id: string;
  eventTypes: string[];
}

/** The reason a webhook paused with PATCH enabled=false carries; any other reason is automatic. */
export const PAUSED_THROUGH_API = 'disabled through the API';

@Injectable()
export class WebhookRepository {
  /** For the worker's hot path: a prepared statement, no QueryRunner (see plain-sql.ts). */
  private readonly sql: PlainQuery;

  constructor(
    @InjectRepository(WebhookEntity) private readonly webhooks: Repository<WebhookEntity>,
  ) {
    this.sql = plainQuery(webhooks.manager.connection);
  }

  async create(input: NewWebhook): Promise<WebhookEntity> {
    const webhook = this.webhooks.create({
      ...input,
      enabled: true,
      failingSince: null,
      consecutiveFailures: 0,
      lastSuccessAt: null,
      lastFailureAt: null,
      disabledReason: null,
      previousSecret: null,
      previousSecretExpiresAt: null,
      deletedAt: null,
    });
    return this.webhooks.save(webhook);
  }

  /** A webhook that has not been deleted. */
  findLive(id: string): Promise<WebhookEntity | null> {
    return this.webhooks.findOneBy({ id, deletedAt: IsNull() });
  }

  listLive(accountId?: string): Promise<WebhookEntity[]> {
    return this.webhooks.find({
      where: { deletedAt: IsNull(), ...(accountId === undefined ? {} : { accountId }) },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
  }

  /**
   * The live webhooks of each account, oldest first, with just what choosing them for an
   * event needs: one read for a whole batch of events, always current (no cache to go stale,
   * so a webhook created a moment ago gets the next event, a deleted one never does).
   */
  async findSubscribersOf(accountIds: string[]): Promise<Map<string, Subscriber[]>> {
    const rows: { id: string; account_id: string; event_types: string[] }[] = await this.sql(
      `SELECT id, account_id, event_types FROM webhooks
       WHERE account_id = ANY($1::text[]) AND enabled AND deleted_at IS NULL
       ORDER BY account_id, created_at, id`,
      [accountIds],
    );
    const byAccount = new Map<string, Subscriber[]>();
    for (const row of rows) {
      const subscribers = byAccount.get(row.account_id) ?? [];
      subscribers.push({ id: row.id, eventTypes: row.event_types });
      byAccount.set(row.account_id, subscribers);
    }
    return byAccount;
  }

  /**
   * Writes only the requested columns, so a concurrent auto-disable or delete is never
   * overwritten with a stale copy. Disabling discards the deliveries still waiting; enabling
   * again clears the reason and the failing streak, so the webhook gets a fresh start.
   * Returns null when the webhook was deleted meanwhile.
   */
  async update(webhook: WebhookEntity, changes: WebhookChanges): Promise<WebhookEntity | null> {
    const values: Partial<WebhookEntity> = Object.fromEntries(
      Object.entries(changes).filter(([, value]) => value !== undefined),
    );
    const resumed = changes.enabled === true && !webhook.enabled;
    const paused = changes.enabled === false && webhook.enabled;
    if (resumed)
      Object.assign(values, { disabledReason: null, failingSince: null, consecutiveFailures: 0 });
    if (paused) values.disabledReason = PAUSED_THROUGH_API;
    return this.webhooks.manager.transaction(async (manager) => {
      if (Object.keys(values).length > 0) {
        await manager.update(WebhookEntity, { id: webhook.id, deletedAt: IsNull() }, values);
      }
      if (paused) await discardWaitingDeliveries(manager, webhook.id, 'webhook disabled');
      return manager.findOneBy(WebhookEntity, { id: webhook.id, deletedAt: IsNull() });
    });
  }

  /**
   * A new secret (sealed) signs from now on; the old one keeps signing too until `graceMs`
   * has passed.
   */
  async rotateSecret(
    webhook: WebhookEntity,
    secret: string,
    graceMs: number,
  ): Promise<WebhookEntity | null> {
    // In SQL, every SET reads the row as it was: previous_secret takes the old secret.
    await this.webhooks
      .createQueryBuilder()
      .update(WebhookEntity)
      .set({
        previousSecret: () => 'secret',
        previousSecretExpiresAt: new Date(Date.now() + graceMs),
        secret,
      })
      .where('id = :id AND deleted_at IS NULL', { id: webhook.id })
      .execute();
    return this.findLive(webhook.id);
  }

  async markDeleted(webhook: WebhookEntity): Promise<void> {
    await this.webhooks.manager.transaction(async (manager) => {
      await manager.update(
        WebhookEntity,
        { id: webhook.id },
        { deletedAt: new Date(), enabled: false },
      );
      await discardWaitingDeliveries(manager, webhook.id, 'webhook deleted');
    });
  }
}
