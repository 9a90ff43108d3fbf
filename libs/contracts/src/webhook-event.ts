import { IsDefined, IsObject, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { IsRfc3339DateTime } from './date-time';
import { EVENT_TYPE_MAX_LENGTH, EVENT_TYPE_PATTERN, EXTERNAL_ID_PATTERN } from './identifiers';

const externalIdMessage = (field: string) =>
  `${field} must be 1-128 characters of letters, digits, ".", "_", ":" or "-"`;

/** The fields every event has, whether it arrives over HTTP or from Kafka. */
export class EventFields {
  /**
   * Dot-separated event type; webhooks subscribe to it exactly or by prefix (`user.*`).
   * @example "user.created"
   */
  @IsString()
  @MaxLength(EVENT_TYPE_MAX_LENGTH)
  @Matches(EVENT_TYPE_PATTERN, { message: 'type must be dot-separated words such as user.created' })
  type!: string;

  /**
   * The account whose webhooks receive the event; also the Kafka key (per-account order).
   * @example "account-42"
   */
  @IsString()
  @Matches(EXTERNAL_ID_PATTERN, { message: externalIdMessage('account_id') })
  account_id!: string;

  /** @example "campaign-7" */
  @IsOptional()
  @IsString()
  @Matches(EXTERNAL_ID_PATTERN, { message: externalIdMessage('campaign_id') })
  campaign_id?: string;

  /**
   * Any JSON object, posted to the webhooks as is.
   * @example {"user_id": "user-1", "email": "user@example.com", "position": 42}
   */
  @IsDefined()
  @IsObject()
  data!: Record<string, unknown>;
}

/** An event as it travels on the Kafka topic: id and timestamp are always set by then. */
export class WebhookEventMessage extends EventFields {
  @IsString()
  @Matches(EXTERNAL_ID_PATTERN, { message: externalIdMessage('id') })
  id!: string;

  @IsRfc3339DateTime()
  timestamp!: string;
}

/**
 * The exact bytes posted to webhooks: fields in schema order, so a retry or a
 * replay sends the same body as the first attempt.
 */
export function serializeEvent(event: WebhookEventMessage): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    account_id: event.account_id,
    ...(event.campaign_id === undefined ? {} : { campaign_id: event.campaign_id }),
    data: event.data,
    timestamp: event.timestamp,
  });
}
