import { IsOptional, IsString, Matches } from 'class-validator';
import { EXTERNAL_ID_PATTERN, EventFields, IsRfc3339DateTime } from '@libs/contracts';

export class PublishEventRequest extends EventFields {
  /**
   * Your id for the event; the same id again is accepted once and delivered once. Generated when absent.
   * @example "550e8400-e29b-41d4-a716-446655440000"
   */
  @IsOptional()
  @IsString()
  @Matches(EXTERNAL_ID_PATTERN, {
    message: 'id must be 1-128 characters of letters, digits, ".", "_", ":" or "-"',
  })
  id?: string;

  /**
   * When the event happened (ISO 8601); the time of publishing when absent.
   * @example "2025-01-01T12:00:00Z"
   */
  @IsOptional()
  @IsRfc3339DateTime()
  timestamp?: string;
}

export class PublishEventResponse {
  id!: string;
  status!: 'accepted';
}
