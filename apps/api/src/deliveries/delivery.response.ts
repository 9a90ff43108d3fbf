import { ApiProperty } from '@nestjs/swagger';
import {
  DELIVERY_STATUSES,
  DeliveryAttemptEntity,
  DeliveryEntity,
  DeliveryStatus,
} from '@libs/persistence';

export class AttemptResponse {
  number!: number;
  @ApiProperty({ enum: ['scheduled', 'manual'] })
  trigger!: string;
  started_at!: string;
  duration_ms!: number;
  response_status!: number | null;
  /** The first 20 KB of the receiver's answer. */
  response_body!: string | null;
  /** Why the attempt failed: timeout, connection refused, DNS, TLS, blocked address, HTTP status… */
  error!: string | null;
  next_attempt_at!: string | null;
}

export class DeliveryResponse {
  id!: string;
  event_id!: string;
  webhook_id!: string;
  account_id!: string;
  event_type!: string;
  @ApiProperty({ enum: DELIVERY_STATUSES })
  status!: DeliveryStatus;
  attempt_count!: number;
  next_attempt_at!: string | null;
  last_response_status!: number | null;
  last_error!: string | null;
  created_at!: string;
  updated_at!: string;
  completed_at!: string | null;
}

export class DeliveryWithAttemptsResponse extends DeliveryResponse {
  @ApiProperty({ type: [AttemptResponse] })
  attempts!: AttemptResponse[];
}

export class DeliveryPageResponse {
  @ApiProperty({ type: [DeliveryResponse] })
  data!: DeliveryResponse[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next_cursor!: string | null;
}

export function toDeliveryResponse(delivery: DeliveryEntity): DeliveryResponse {
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    webhook_id: delivery.webhookId,
    account_id: delivery.accountId,
    event_type: delivery.eventType,
    status: delivery.status,
    attempt_count: delivery.attemptCount,
    next_attempt_at: iso(delivery.nextAttemptAt),
    last_response_status: delivery.lastResponseStatus,
    last_error: delivery.lastError,
    created_at: delivery.createdAt.toISOString(),
    updated_at: delivery.updatedAt.toISOString(),
    completed_at: iso(delivery.completedAt),
  };
}

export function toDeliveryWithAttempts(delivery: DeliveryEntity): DeliveryWithAttemptsResponse {
  return {
    ...toDeliveryResponse(delivery),
    attempts: (delivery.attempts ?? []).map(toAttemptResponse),
  };
}

function toAttemptResponse(attempt: DeliveryAttemptEntity): AttemptResponse {
  return {
    number: attempt.number,
    trigger: attempt.trigger,
    started_at: attempt.startedAt.toISOString(),
    duration_ms: attempt.durationMs,
    response_status: attempt.responseStatus,
    response_body: attempt.responseBody,
    error: attempt.error,
    next_attempt_at: iso(attempt.nextAttemptAt),
  };
}

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}
