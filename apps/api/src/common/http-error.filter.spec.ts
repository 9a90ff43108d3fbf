import { BadRequestException, ServiceUnavailableException } from '@nestjs/common';
import { ApiError, ApiErrorCode } from './api.errors';
import { errorBodyOf } from './http-error.filter';

/** What body-parser and raw-body throw: an http-errors Error with a `type` and a `status`. */
function bodyError(type: string | undefined, status: number): Error {
  return Object.assign(new Error(`raw ${type}`), {
    type,
    status,
    statusCode: status,
    expose: true,
  });
}

describe('errorBodyOf', () => {
  it.each<[string, unknown, number, string | RegExp]>([
    ['malformed JSON', bodyError('entity.parse.failed', 400), 400, /not valid JSON/],
    ['an oversized body', bodyError('entity.too.large', 413), 413, /MAX_EVENT_BYTES/],
    ['an unknown Content-Encoding', bodyError('encoding.unsupported', 415), 415, /Encoding/],
    ['a charset other than UTF-8', bodyError('charset.unsupported', 415), 415, /UTF-8/],
    ['a client that hung up mid-body', bodyError('request.aborted', 400), 400, /aborted/],
    ['a body shorter than Content-Length', bodyError('request.size.invalid', 400), 400, /length/],
    ['a stream already decoded', bodyError('stream.encoding.set', 500), 400, /could not be read/],
    ['a stream already read', bodyError('stream.not.readable', 500), 400, /could not be read/],
    ['too many form parameters', bodyError('parameters.too.many', 413), 413, /parameters/],
    ['a failed body verification', bodyError('entity.verify.failed', 403), 400, /could not/],
    [
      'gzip that is not',
      Object.assign(bodyError(undefined, 400), { code: 'Z_DATA_ERROR' }),
      400,
      /decompressed: check Content-Encoding/,
    ],
    ['another client error', bodyError(undefined, 400), 400, 'raw undefined'],
    ['a validation error', new BadRequestException(['a must be b']), 400, 'a must be b'],
    [
      'a readiness check that failed',
      new ServiceUnavailableException({
        status: 'error',
        error: { kafka: { status: 'down', message: 'no broker' } },
      }),
      503,
      'kafka is down: no broker',
    ],
    ['our own error', new ApiError(ApiErrorCode.PublishFailed, 'later'), 503, 'later'],
    [
      'a key over its rate limit',
      new ApiError(ApiErrorCode.RateLimited, 'retry after 1 s'),
      429,
      'retry after 1 s',
    ],
    [
      'a database nobody answers at',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      503,
      /database is unavailable/,
    ],
    [
      'a pool that could not connect in time',
      new Error('timeout exceeded when trying to connect'),
      503,
      /database is unavailable/,
    ],
    [
      'a database shutting down',
      Object.assign(new Error('terminating connection'), { code: '57P01', severity: 'FATAL' }),
      503,
      /database is unavailable/,
    ],
    ['anything else', new TypeError('x is undefined'), 500, 'Internal server error'],
    ['a server-side error with a type', bodyError('some.other', 500), 500, /Internal/],
  ])(
    'answers %s with the right status and a readable message',
    (_label, exception, status, message) => {
      const body = errorBodyOf(exception);
      expect(body.statusCode).toBe(status);
      expect(typeof body.error).toBe('string');
      expect(JSON.stringify(body.message)).toMatch(message);
    },
  );
});
