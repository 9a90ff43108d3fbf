/** Every failure the api reports on purpose; the filter maps each to an HTTP status. */
export enum ApiErrorCode {
  Unauthorized = 'unauthorized',
  ForbiddenAccount = 'forbidden_account',
  AdminOnly = 'admin_only',
  ApiKeyNotFound = 'api_key_not_found',
  WebhookNotFound = 'webhook_not_found',
  DeliveryNotFound = 'delivery_not_found',
  EventNotFound = 'event_not_found',
  AmbiguousEventId = 'ambiguous_event_id',
  DestinationNotAllowed = 'destination_not_allowed',
  InvalidCursor = 'invalid_cursor',
  InvalidTimeWindow = 'invalid_time_window',
  AttemptInProgress = 'attempt_in_progress',
  WebhookDisabled = 'webhook_disabled',
  PublishFailed = 'publish_failed',
  RateLimited = 'rate_limited',
}

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
