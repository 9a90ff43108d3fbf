import { Injectable } from '@nestjs/common';
import { DELIVERY_STATUSES, DeliveryHistoryRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { FindWebhookUseCase } from './find-webhook.use-case';
import { WebhookStatsResponse } from './webhook-stats.response';

const WINDOW_MS = 24 * 60 * 60 * 1000;

@Injectable()
export class GetWebhookStatsUseCase {
  constructor(
    private readonly findWebhook: FindWebhookUseCase,
    private readonly history: DeliveryHistoryRepository,
  ) {}

  async execute(id: string, scope: AccountScope): Promise<WebhookStatsResponse> {
    const webhook = await this.findWebhook.execute(id, scope);
    const since = new Date(Date.now() - WINDOW_MS);
    const stats = await this.history.webhookStats(webhook.id, since);
    const deliveries = Object.fromEntries(
      DELIVERY_STATUSES.map((status) => [status, stats.deliveriesByStatus[status] ?? 0]),
    );
    return {
      webhook_id: webhook.id,
      since: since.toISOString(),
      deliveries,
      attempts: stats.attempts,
      success_rate: stats.attempts === 0 ? null : stats.successfulAttempts / stats.attempts,
      last_success_at: webhook.lastSuccessAt?.toISOString() ?? null,
      last_failure_at: webhook.lastFailureAt?.toISOString() ?? null,
    };
  }
}
