import { ApiPropertyOptional, PartialType, PickType } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  Validate,
} from 'class-validator';
import { EXTERNAL_ID_PATTERN, IsRfc3339DateTime } from '@libs/contracts';
import { EVENT_TYPE_PATTERN_SYNTAX } from '@libs/delivery';
import { NoNulCharacters } from '../common/no-nul-characters';
import { Omittable } from '../common/omittable';
import { WebhookHeadersConstraint } from './webhook-headers.validator';
import { IsParsableUrl } from './webhook-url.validator';

/** The highest per-webhook rate limit (requests per second) one can set. */
export const MAX_RATE_LIMIT_PER_S = 10_000;

export class CreateWebhookRequest {
  /** @example "account-42" */
  @IsString()
  @Matches(EXTERNAL_ID_PATTERN, {
    message: 'account_id must be 1-128 characters of letters, digits, ".", "_", ":" or "-"',
  })
  account_id!: string;

  /**
   * Where events are POSTed: an http or https URL.
   * @example "https://hooks.example.com/webhooks"
   */
  @IsUrl(
    {
      protocols: ['http', 'https'],
      require_protocol: true,
      require_tld: false,
      allow_underscores: true,
    },
    { message: 'url must be an http or https URL' },
  )
  @IsParsableUrl()
  @MaxLength(2048)
  url!: string;

  /** `*` (the default), exact types such as `user.created`, or prefixes such as `user.*`. */
  @ApiPropertyOptional({ example: ['user.*'], default: ['*'] })
  @Omittable()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @Matches(EVENT_TYPE_PATTERN_SYNTAX, {
    each: true,
    message:
      'event_types entries must be "*", a type such as user.created, or a prefix such as user.*',
  })
  event_types?: string[];

  @IsOptional()
  @IsString()
  @MaxLength(500)
  @NoNulCharacters()
  description?: string;

  /** Extra headers sent with every request, e.g. an authorization token of the receiver. */
  @ApiPropertyOptional({ example: { 'x-receiver-token': 'abc' } })
  @Omittable()
  @Validate(WebhookHeadersConstraint)
  headers?: Record<string, string>;

  /**
   * Requests per second this webhook receives at most, across all workers, after a burst of
   * up to one second's worth; deliveries beyond it wait their turn (they neither fail nor
   * count as attempts). Null or absent: no limit.
   */
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_RATE_LIMIT_PER_S,
    nullable: true,
    example: 50,
  })
  @IsOptional()
  @IsInt({ message: 'rate_limit_per_s must be a whole number of requests per second, or null' })
  @Min(1)
  @Max(MAX_RATE_LIMIT_PER_S)
  rate_limit_per_s?: number | null;
}

// Null is validated, not skipped: url, event_types, headers and enabled cannot be null, and
// the own @IsOptional of description and rate_limit_per_s lets null through to clear them.
export class UpdateWebhookRequest extends PartialType(
  PickType(CreateWebhookRequest, [
    'url',
    'event_types',
    'description',
    'headers',
    'rate_limit_per_s',
  ] as const),
  { skipNullProperties: false },
) {
  /** false pauses deliveries; true resumes a webhook that was disabled, by hand or automatically. */
  @Omittable()
  @IsBoolean()
  enabled?: boolean;
}

export class ListWebhooksQuery {
  @IsOptional()
  @Matches(EXTERNAL_ID_PATTERN, { message: 'account_id is not a valid account id' })
  account_id?: string;
}

export class ReplayWebhookRequest {
  /** Replay deliveries created at or after this time (ISO 8601). */
  @IsRfc3339DateTime()
  since!: string;

  /** …and before this time (ISO 8601); now when absent. */
  @Omittable()
  @IsRfc3339DateTime()
  until?: string;
}

export class ReplayWebhookResponse {
  /** Deliveries queued for one more attempt. */
  queued!: number;

  /**
   * Set when the window held more than one call replays: the creation time of the first
   * delivery left out. Call again with it as `since` to go on.
   * @example null
   */
  next_since!: string | null;
}
