import { HttpService } from '@nestjs/axios';
import { Injectable } from '@nestjs/common';
import { AxiosError, AxiosResponse } from 'axios';
import { Readable } from 'node:stream';
import { AppConfig } from '@libs/config';
import { BlockedAddressError, assertPublicLiteral } from './address-guard';
import { toStorableText } from './storable-text';

/** Receivers' answers are kept up to this size; the rest is never read. */
export const RESPONSE_BODY_LIMIT_BYTES = 20 * 1024;

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface WebhookResponse {
  startedAt: Date;
  durationMs: number;
  /** null when no HTTP answer came back (timeout, refused, DNS, TLS, blocked). */
  statusCode: number | null;
  responseBody: string | null;
  retryAfter: string | undefined;
  /** What went wrong, readable by the account owner; null on a 2xx. */
  error: string | null;
  /** The destination is not allowed: trying again cannot help. */
  blocked: boolean;
}

/**
 * The only code that opens connections to user-supplied URLs. It owns the timeout, the
 * response-size cap, the no-redirect rule and (through the agents' lookup) the private
 * address guard.
 */
@Injectable()
export class WebhookHttpClient {
  constructor(
    private readonly http: HttpService,
    private readonly config: AppConfig,
  ) {}

  async send(request: WebhookRequest): Promise<WebhookResponse> {
    const startedAt = new Date();
    const started = performance.now();
    const timeoutMs = this.config.delivery.timeoutMs;
    const elapsed = () => Math.round(performance.now() - started);
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      this.assertAllowedUrl(request.url);
      const response = await this.http.axiosRef.request<Readable>({
        method: 'POST',
        url: request.url,
        headers: request.headers,
        // Bytes go out as they are: given a string, axios would parse the JSON to check it
        // and serialise it again, for every request.
        data: Buffer.from(request.body),
        responseType: 'stream',
        maxRedirects: 0,
        proxy: false,
        decompress: true,
        validateStatus: () => true,
        signal,
      });
      const body = await readCapped(response.data, RESPONSE_BODY_LIMIT_BYTES, signal);
      const responseBody = toStorableText(body.bytes, {
        limitBytes: RESPONSE_BODY_LIMIT_BYTES,
        truncated: body.truncated,
      });
      if (body.failure !== undefined) {
        // Headers alone are not an answer: a cut or unfinished body is retried like a
        // network error, with what did arrive kept for the account owner to see.
        return {
          startedAt,
          durationMs: elapsed(),
          statusCode: null,
          responseBody,
          retryAfter: undefined,
          error: describeUnfinishedBody(
            body.failure,
            response.status,
            body.bytes.length,
            timeoutMs,
          ),
          blocked: false,
        };
      }
      return {
        startedAt,
        durationMs: elapsed(),
        statusCode: response.status,
        responseBody,
        retryAfter: headerValue(response, 'retry-after'),
        error: describeStatus(response),
        blocked: false,
      };
    } catch (error) {
      return {
        startedAt,
        durationMs: elapsed(),
        statusCode: null,
        responseBody: null,
        retryAfter: undefined,
        error: describeFailure(error, timeoutMs),
        blocked: findBlocked(error) !== undefined,
      };
    }
  }

  private assertAllowedUrl(url: string): void {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new BlockedAddressError(parsed.host, parsed.protocol, 'unsupported scheme');
    }
    if (!this.config.delivery.allowPrivateNetworks) assertPublicLiteral(parsed.hostname);
  }
}

type BodyFailure = 'deadline' | 'closed' | 'undecodable';

interface ReadBody {
  /** At most the limit: the rest of a longer answer is never read. */
  bytes: Buffer;
  /** The answer had more than `bytes`. */
  truncated: boolean;
  /** Why the body stopped before its end. */
  failure?: BodyFailure;
}

/**
 * The deadline covers the whole exchange, body included: it is not reset by each byte, so a
 * receiver trickling its answer is cut off at the same moment as one that never answers.
 */
async function readCapped(stream: Readable, limit: number, signal: AbortSignal): Promise<ReadBody> {
  const abort = () => stream.destroy(signal.reason instanceof Error ? signal.reason : undefined);
  if (signal.aborted) abort();
  signal.addEventListener('abort', abort, { once: true });
  const chunks: Buffer[] = [];
  let size = 0;
  const read = (): Buffer => Buffer.concat(chunks, size).subarray(0, limit);
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      chunks.push(buffer);
      size += buffer.length;
      if (size > limit) {
        // Stop reading and drop the connection: the rest of an oversized answer is not worth
        // the bandwidth, and a socket still holding unread bytes cannot be reused anyway.
        stream.destroy();
        return { bytes: read(), truncated: true };
      }
    }
    return { bytes: read(), truncated: false };
  } catch (error) {
    return { bytes: read(), truncated: true, failure: bodyFailure(error, signal) };
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

function bodyFailure(error: unknown, signal: AbortSignal): BodyFailure {
  // Destroying the stream at the deadline surfaces as whatever error the socket reports.
  if (signal.aborted) return 'deadline';
  // Not `instanceof Error`: errors from Node's internals may come from another realm.
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : '';
  return typeof code === 'string' && code.startsWith('Z_') ? 'undecodable' : 'closed';
}

function headerValue(response: AxiosResponse, name: string): string | undefined {
  const value: unknown = response.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function describeStatus(response: AxiosResponse): string | null {
  const status = response.status;
  if (status >= 200 && status < 300) return null;
  if (status >= 300 && status < 400) {
    const location = headerValue(response, 'location');
    return `HTTP ${status}: redirect${location ? ` to ${location}` : ''} not followed`;
  }
  return `HTTP ${status}`;
}

function describeUnfinishedBody(
  failure: BodyFailure,
  status: number,
  received: number,
  timeoutMs: number,
): string {
  const progress = `HTTP ${status}, ${received} bytes of body received`;
  if (failure === 'deadline') {
    return `timeout: answer not finished within ${timeoutMs} ms (${progress})`;
  }
  if (failure === 'undecodable') {
    return `answer not readable: its content-encoding does not match its body (${progress})`;
  }
  return `connection closed by the receiver in the middle of its answer (${progress})`;
}

function findBlocked(error: unknown): BlockedAddressError | undefined {
  if (error instanceof BlockedAddressError) return error;
  if (error instanceof AxiosError && error.cause instanceof BlockedAddressError) return error.cause;
  return undefined;
}

const TLS_CODE =
  /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME_MISMATCH)/;

function describeFailure(error: unknown, timeoutMs: number): string {
  const blocked = findBlocked(error);
  if (blocked) return blocked.message;
  if (error instanceof AxiosError) {
    const code = error.code ?? '';
    if (code === 'ERR_CANCELED' || code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
      return `timeout: no answer within ${timeoutMs} ms`;
    }
    if (code === 'ECONNREFUSED') return 'connection refused';
    if (code === 'ECONNRESET') return 'connection reset by the receiver';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `DNS lookup failed (${code})`;
    if (TLS_CODE.test(code)) return `TLS error: ${error.message}`;
    return `network error: ${code || error.message}`;
  }
  if (error instanceof Error && error.name === 'TimeoutError') {
    return `timeout: no answer within ${timeoutMs} ms`;
  }
  if (error instanceof TypeError) return `invalid URL: ${error.message}`;
  return `delivery error: ${error instanceof Error ? error.message : String(error)}`;
}
