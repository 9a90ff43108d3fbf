import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { WebhookEventMessage, parseEventMessage, serializeEvent } from '@libs/contracts';
import { IdempotencyKeyRepository } from '@libs/persistence';
import { AccountScope } from '../auth/account-scope';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { ApiMetrics } from '../metrics/api-metrics';
import { EventPublisher } from './event-publisher';
import { PublishEventRequest } from './publish-event.request';

@Injectable()
export class PublishEventUseCase {
  private readonly logger = new Logger(PublishEventUseCase.name);

  constructor(
    @Inject(EventPublisher)
    private readonly publisher: Pick<EventPublisher, 'publish' | 'unavailableMessage'>,
    private readonly idempotencyKeys: IdempotencyKeyRepository,
    private readonly metrics: ApiMetrics,
  ) {}

  /**
   * Returns the id of the accepted event. With an Idempotency-Key seen in the last 24 hours
   * the earlier event's id comes back and nothing is published again; the same event `id`
   * published twice is delivered once too (each id is stored once per account, by the worker
   * in kafka mode, by the publisher itself in direct mode).
   */
  async execute(
    request: PublishEventRequest,
    scope: AccountScope,
    idempotencyKey?: string,
  ): Promise<string> {
    scope.assertMayActFor(request.account_id);
    const event = Object.assign(new WebhookEventMessage(), {
      id: request.id ?? randomUUID(),
      type: request.type,
      account_id: request.account_id,
      campaign_id: request.campaign_id,
      data: request.data,
      timestamp: request.timestamp ?? new Date().toISOString(),
    });
    if (idempotencyKey !== undefined) {
      const claim = await this.idempotencyKeys.claim(
        event.account_id,
        idempotencyKey,
        event.id,
        serializeEvent(event),
      );
      if (!claim.first) {
        // Publish the first request's event again: should that request have died before
        // Kafka acknowledged it (or Postgres committed it, in direct mode), this one completes
        // it; otherwise each event id is stored once, so nothing is delivered twice.
        const earlier = claim.eventBody === null ? null : parseEventMessage(claim.eventBody);
        if (earlier?.valid) await this.publishOrFail(earlier.event);
        return claim.eventId;
      }
    }
    // When this fails the key stays bound to this event, on purpose: a retry with the same
    // key republishes this very event (same id), and a concurrent request with the key may
    // already have republished it successfully. Freeing the key would let a retry bind a
    // second event to it, so one key could stand for two deliveries.
    await this.publishOrFail(event);
    return event.id;
  }

  private async publishOrFail(event: WebhookEventMessage): Promise<void> {
    try {
      await this.publisher.publish(event);
    } catch (error) {
      this.metrics.publishFailed();
      this.logger.error(`Publishing event ${event.id} failed: ${String(error)}`);
      throw new ApiError(ApiErrorCode.PublishFailed, this.publisher.unavailableMessage);
    }
    this.metrics.eventPublished(event.type);
  }
}
