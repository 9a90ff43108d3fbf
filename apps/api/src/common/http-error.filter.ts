import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { Response } from 'express';
import { ApiError, ApiErrorCode } from './api.errors';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
}

/**
 * Every error leaves as `{ statusCode, error, message }`: our own ApiErrors, Nest's
 * HttpExceptions (validation lists every bad field), body-parser failures (malformed or
 * oversized JSON) and, as a 500 without details, anything unexpected.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    if (body.statusCode >= 500) {
      this.logger.error(
        exception instanceof Error ? (exception.stack ?? exception.message) : exception,
      );
    }
    response.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof ApiError) {
      return errorBody(statusOf(exception.code), exception.message);
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const payload = exception.getResponse();
      const message =
        typeof payload === 'object' && payload !== null && 'message' in payload
          ? (payload.message as string | string[])
          : exception.message;
      return errorBody(status, message);
    }
    const bodyParserError = asBodyParserError(exception);
    if (bodyParserError) return bodyParserError;
    return errorBody(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error');
  }
}

function statusOf(code: ApiErrorCode): HttpStatus {
  switch (code) {
    case ApiErrorCode.Unauthorized:
      return HttpStatus.UNAUTHORIZED;
    case ApiErrorCode.ForbiddenAccount:
    case ApiErrorCode.AdminOnly:
      return HttpStatus.FORBIDDEN;
    case ApiErrorCode.WebhookNotFound:
    case ApiErrorCode.DeliveryNotFound:
    case ApiErrorCode.EventNotFound:
    case ApiErrorCode.ApiKeyNotFound:
      return HttpStatus.NOT_FOUND;
    case ApiErrorCode.DestinationNotAllowed:
    case ApiErrorCode.InvalidCursor:
    case ApiErrorCode.InvalidTimeWindow:
      return HttpStatus.BAD_REQUEST;
    case ApiErrorCode.AttemptInProgress:
    case ApiErrorCode.WebhookDisabled:
    case ApiErrorCode.AmbiguousEventId:
      return HttpStatus.CONFLICT;
    case ApiErrorCode.PublishFailed:
      return HttpStatus.SERVICE_UNAVAILABLE;
  }
}

function errorBody(statusCode: number, message: string | string[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

/** body-parser errors carry `type` and `status`; they never reach a controller. */
function asBodyParserError(exception: unknown): ErrorBody | undefined {
  if (typeof exception !== 'object' || exception === null || !('type' in exception))
    return undefined;
  switch (exception.type) {
    case 'entity.parse.failed':
      return errorBody(HttpStatus.BAD_REQUEST, 'Request body is not valid JSON');
    case 'entity.too.large':
      return errorBody(HttpStatus.PAYLOAD_TOO_LARGE, 'Request body is larger than MAX_EVENT_BYTES');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return errorBody(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'Unsupported body encoding');
    default:
      return undefined;
  }
}
