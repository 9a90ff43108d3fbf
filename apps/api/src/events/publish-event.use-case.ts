import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { WebhookEventMessage } from '@libs/contracts';
import { ApiError, ApiErrorCode } from '../common/api.errors';
import { ApiMetrics } from '../metrics/api-metrics';
import { EventPublisher } from './event-publisher';
import { PublishEventRequest } from './publish-event.request';

@Injectable()
export class PublishEventUseCase {
  private readonly logger = new Logger(PublishEventUseCase.name);

  constructor(
    private readonly publisher: EventPublisher,
    private readonly metrics: ApiMetrics,
  ) {}

  async execute(request: PublishEventRequest): Promise<WebhookEventMessage> {
    const event = Object.assign(new WebhookEventMessage(), {
      id: request.id ?? randomUUID(),
      type: request.type,
      account_id: request.account_id,
      campaign_id: request.campaign_id,
      data: request.data,
      timestamp: request.timestamp ?? new Date().toISOString(),
    });
    try {
      await this.publisher.publish(event);
    } catch (error) {
      this.metrics.publishFailed();
      this.logger.error(`Publishing event ${event.id} failed: ${String(error)}`);
      throw new ApiError(
        ApiErrorCode.PublishFailed,
        'The event could not be written to Kafka; retry later',
      );
    }
    this.metrics.eventPublished(event.type);
    return event;
  }
}
