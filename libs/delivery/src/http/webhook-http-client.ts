import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Readable } from 'node:stream';
import { Agent, Dispatcher } from 'undici';
import { AppConfig } from '@libs/config';
import { BlockedAddressError, assertPublicLiteral, publicOnlyLookup } from './address-guard';
import { decodedBody } from './content-decoding';
import { toStorableText } from './storable-text';

/** Receivers' answers are kept up to this size; the rest is never read. */
export const RESPONSE_BODY_LIMIT_BYTES = 20 * 1024;

/** Keep-alive connections to one receiver (origin); more requests to it wait for one. */
export const MAX_CONNECTIONS_PER_ORIGIN = 256;

/**
 * Headers about the connection itself, which the client owns: undici refuses to send them,
 * and a webhook's own headers may still carry them (the api accepted them before). Left out
 * rather than failing every attempt; `expect` would ask the receiver for a 100 Continue that
 * is never waited for.
 */
const CONNECTION_HEADERS = new Set(['keep-alive', 'upgrade', 'expect']);

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
 * The only code that opens connections to user-supplied URLs. It owns the connection pool,
 * the timeout, the response-size cap, the no-redirect rule and (through the connector's
 * lookup) the private address guard.
 *
 * undici rather than axios: one keep-alive POST costs about 100 us of CPU through undici's
 * `request()` against 350 us through axios (measured side by side), and the worker is
 * CPU-bound. undici follows no redirects and does not decompress on its own.
 */
@Injectable()
export class WebhookHttpClient implements OnApplicationShutdown {
  private readonly agent: Agent;

  constructor(private readonly config: AppConfig) {
    const { timeoutMs, allowPrivateNetworks } = config.delivery;
    this.agent = new Agent({
      connections: MAX_CONNECTIONS_PER_ORIGIN,
      // One deadline, the request's signal, bounds the whole exchange. undici's own header and
      // body timers would only blur it (the body one restarts with every byte).
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: {
        // Aborting a request does not end a connection attempt under way: a handshake that
        // never completes would otherwise hold its socket for undici's default 10 s.
        timeout: timeoutMs,
        // The socket connects to the very address the lookup checked, so a second, different
        // DNS answer (rebinding) never gets a chance.
        ...(allowPrivateNetworks ? {} : { lookup: publicOnlyLookup }),
      },
    });
  }

  /**
   * After the apps' drains (beforeApplicationShutdown), which still deliver: requests under
   * way finish, then the keep-alive connections close.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }

  async send(request: WebhookRequest): Promise<WebhookResponse> {
    const startedAt = new Date();
    const started = performance.now();
    const timeoutMs = this.config.delivery.timeoutMs;
    const elapsed = () => Math.round(performance.now() - started);
    // Not AbortSignal.timeout: its timer outlives the request (it cannot be cleared), so a
    // busy worker would keep one per request of the last timeout's span, and pay for them.
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')),
      timeoutMs,
    );
    const signal = deadline.signal;
    try {
      const url = this.allowedUrl(request.url);
      const response = await beforeDeadline(
        this.agent.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'POST',
          headers: outgoingHeaders(request.headers, url),
          // Bytes go out as they are: no parsing or re-serialising of the JSON on the way.
          body: Buffer.from(request.body),
          signal,
        }),
        signal,
      );
      const status = response.statusCode;
      const content = decodedBody(
        response.body,
        status,
        headerValue(response.headers, 'content-encoding'),
      );
      const body = await readCapped(content, RESPONSE_BODY_LIMIT_BYTES, signal);
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
          error: describeUnfinishedBody(body.failure, status, body.bytes.length, timeoutMs),
          blocked: false,
        };
      }
      return {
        startedAt,
        durationMs: elapsed(),
        statusCode: status,
        responseBody,
        retryAfter: headerValue(response.headers, 'retry-after'),
        error: describeStatus(status, response.headers),
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
    } finally {
      clearTimeout(timer);
    }
  }

  private allowedUrl(url: string): URL {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new BlockedAddressError(parsed.host, parsed.protocol, 'unsupported scheme');
    }
    if (!this.config.delivery.allowPrivateNetworks) assertPublicLiteral(parsed.hostname);
    return parsed;
  }
}

/**
 * undici looks at a request's signal only once the request has a connection: one still
 * waiting for it (a TLS handshake that never ends, a slow DNS answer, a full pool) would
 * outlive the deadline. undici drops such a request when it does get a connection, and the
 * connect timeout ends the attempt under way.
 */
function beforeDeadline(
  answer: Promise<Dispatcher.ResponseData>,
  signal: AbortSignal,
): Promise<Dispatcher.ResponseData> {
  return new Promise((resolve, reject) => {
    const onDeadline = () => reject(signal.reason);
    signal.addEventListener('abort', onDeadline, { once: true });
    answer.then(
      (response) => {
        signal.removeEventListener('abort', onDeadline);
        // Too late, nobody will read it: the connection must not stay held by its body.
        if (signal.aborted) response.body.destroy();
        resolve(response);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onDeadline);
        reject(error);
      },
    );
  });
}

/**
 * The request's headers as sent: without the connection's own, and with the URL's user and
 * password (`https://user:pass@host/`) as basic credentials. Those replace an authorization
 * among the webhook's own headers, as they did when axios sent them: receivers set up
 * against that behaviour keep working.
 */
function outgoingHeaders(headers: Record<string, string>, url: URL): Record<string, string> {
  const credentials = url.username !== '' || url.password !== '';
  const sent: Record<string, string> = {};
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (CONNECTION_HEADERS.has(lower) || (credentials && lower === 'authorization')) continue;
    sent[name] = headers[name];
  }
  if (credentials) {
    const userInfo = `${percentDecoded(url.username)}:${percentDecoded(url.password)}`;
    sent.authorization = `Basic ${Buffer.from(userInfo).toString('base64')}`;
  }
  return sent;
}

/** The URL keeps user and password percent-encoded; a malformed escape is sent as written. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
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
  return errorCode(error).startsWith('Z_') ? 'undecodable' : 'closed';
}

/** undici names headers in lower case; a repeated one comes as an array and is not used. */
function headerValue(
  headers: Dispatcher.ResponseData['headers'],
  name: string,
): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

function describeStatus(
  status: number,
  headers: Dispatcher.ResponseData['headers'],
): string | null {
  if (status >= 200 && status < 300) return null;
  if (status >= 300 && status < 400) {
    const location = headerValue(headers, 'location');
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
  const cause = property(error, 'cause');
  return cause instanceof BlockedAddressError ? cause : undefined;
}

/**
 * A property of an error, read without `instanceof Error`: errors from Node's internals (the
 * signal's DOMException, socket errors) may come from another realm, as under Jest.
 */
function property(error: unknown, key: string): unknown {
  return typeof error === 'object' && error !== null ? Reflect.get(error, key) : undefined;
}

/**
 * The `code` of an error from Node or undici. A connection tried on several addresses fails
 * with an AggregateError whose own code may be missing: the first attempt's is used then.
 */
function errorCode(error: unknown): string {
  const code = property(error, 'code');
  if (typeof code === 'string') return code;
  const errors = property(error, 'errors');
  return Array.isArray(errors) && errors.length > 0 ? errorCode(errors[0]) : '';
}

const TLS_CODE =
  /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME_MISMATCH)/;

/** The request's signal at the deadline, or undici's connect timer set to the same deadline. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

function describeFailure(error: unknown, timeoutMs: number): string {
  const blocked = findBlocked(error);
  if (blocked) return blocked.message;
  const code = errorCode(error);
  if (property(error, 'name') === 'TimeoutError' || TIMEOUT_CODES.has(code)) {
    return `timeout: no answer within ${timeoutMs} ms`;
  }
  if (code === 'ERR_INVALID_URL') return `invalid URL: ${errorMessage(error)}`;
  if (code === 'ECONNREFUSED') return 'connection refused';
  // undici's "other side closed": the receiver hung up before its answer's headers.
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') {
    return 'connection reset by the receiver';
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `DNS lookup failed (${code})`;
  if (TLS_CODE.test(code)) return `TLS error: ${errorMessage(error)}`;
  // undici's own refusals (a header it cannot send, a closed pool) read better as their message.
  if (code !== '' && !code.startsWith('UND_ERR_')) return `network error: ${code}`;
  return `delivery error: ${errorMessage(error)}`;
}

function errorMessage(error: unknown): string {
  const message = property(error, 'message');
  return typeof message === 'string' ? message : String(error);
}
