import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import { isDatabaseUnavailable } from '@libs/persistence';
import { ApiError, ApiErrorCode } from './api.errors';
import { BodyErrorType, isBodyErrorType } from './request-body.errors';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
}

/**
 * Every error leaves as `{ statusCode, error, message }`: our own ApiErrors, Nest's
 * HttpExceptions (validation lists every bad field), bodies that cannot be read (malformed or
 * oversized JSON), a database that cannot be reached (503) and, as a 500 without details,
 * anything unexpected.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<FastifyReply>();
    const body = errorBodyOf(exception);
    if (body.statusCode >= 500) {
      this.logger.error(
        exception instanceof Error ? (exception.stack ?? exception.message) : exception,
      );
    }
    response.status(body.statusCode).send(body);
  }
}

/** The answer for anything thrown while serving a request. */
export function errorBodyOf(exception: unknown): ErrorBody {
  if (exception instanceof ApiError) {
    return errorBody(statusOf(exception.code), exception.message);
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const payload = exception.getResponse();
    const message =
      typeof payload === 'object' && payload !== null && 'message' in payload
        ? (payload.message as string | string[])
        : (healthFailure(payload) ?? exception.message);
    return errorBody(status, message);
  }
  const bodyError = asBodyError(exception);
  if (bodyError) return bodyError;
  // An outage is not a bug: the client may try again (with the same Idempotency-Key or id).
  if (isDatabaseUnavailable(exception)) {
    return errorBody(HttpStatus.SERVICE_UNAVAILABLE, 'The database is unavailable; retry later');
  }
  return errorBody(HttpStatus.INTERNAL_SERVER_ERROR, 'Internal server error');
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
    case ApiErrorCode.RateLimited:
      return HttpStatus.TOO_MANY_REQUESTS;
    case ApiErrorCode.PublishFailed:
      return HttpStatus.SERVICE_UNAVAILABLE;
  }
}

/**
 * Terminus answers a failed readiness check with `{ status, info, error: { <dependency>:
 * { status, message? } } }`: named here so the 503 still says which dependency is down.
 */
function healthFailure(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null || !('error' in payload)) return undefined;
  const failed = payload.error;
  if (typeof failed !== 'object' || failed === null) return undefined;
  const lines = Object.entries(failed).map(([dependency, state]) => {
    const reason =
      typeof state === 'object' && state !== null && 'message' in state
        ? `: ${String(state.message)}`
        : '';
    return `${dependency} is down${reason}`;
  });
  return lines.length > 0 ? lines.join('; ') : undefined;
}

function errorBody(statusCode: number, message: string | string[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

/**
 * Body errors never reach a controller: the api's body reader (and body-parser) give them a
 * `type`; body-parser passes a failed gunzip on as zlib's error with a 400. Every one is the client's
 * doing (or a body cut off on the way) and so a 4xx: a 500 here would page someone for a
 * client's malformed request.
 */
function asBodyError(exception: unknown): ErrorBody | undefined {
  if (typeof exception !== 'object' || exception === null) return undefined;
  const type = 'type' in exception ? exception.type : undefined;
  if (isBodyErrorType(type)) return bodyErrorBody(type);
  const status = 'status' in exception ? exception.status : undefined;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  // A decompression failure (gzip, deflate, br that is not) comes as zlib's error with a 400.
  const code = 'code' in exception ? exception.code : undefined;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return errorBody(status, DECOMPRESSION_FAILED);
  }
  // Any other http-errors 4xx: its message is meant for the client (`expose`).
  const exposed = 'expose' in exception && exception.expose === true && 'message' in exception;
  return errorBody(status, exposed ? String(exception.message) : 'Request could not be read');
}

const DECOMPRESSION_FAILED = 'Request body could not be decompressed: check Content-Encoding';

function bodyErrorBody(type: BodyErrorType): ErrorBody {
  switch (type) {
    case 'entity.parse.failed':
      return errorBody(HttpStatus.BAD_REQUEST, 'Request body is not valid JSON');
    case 'entity.too.large':
      return errorBody(HttpStatus.PAYLOAD_TOO_LARGE, 'Request body is larger than MAX_EVENT_BYTES');
    case 'parameters.too.many':
      return errorBody(HttpStatus.PAYLOAD_TOO_LARGE, 'Request body has too many parameters');
    case 'encoding.failed':
      return errorBody(HttpStatus.BAD_REQUEST, DECOMPRESSION_FAILED);
    case 'encoding.unsupported':
      return errorBody(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'Unsupported Content-Encoding');
    case 'charset.unsupported':
      return errorBody(HttpStatus.UNSUPPORTED_MEDIA_TYPE, 'Unsupported charset: send UTF-8');
    case 'request.aborted':
      return errorBody(HttpStatus.BAD_REQUEST, 'Request was aborted before its body was complete');
    case 'request.size.invalid':
      return errorBody(HttpStatus.BAD_REQUEST, 'Request body length does not match Content-Length');
    case 'entity.verify.failed':
    case 'stream.encoding.set':
    case 'stream.not.readable':
      return errorBody(HttpStatus.BAD_REQUEST, 'Request body could not be read');
  }
}
