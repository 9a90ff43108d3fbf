import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import { TextDecoder } from 'node:util';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { BodyErrorType, RequestBodyError } from './request-body.errors';

/**
 * The api's only body parser: JSON, read the way Express's `json()` read it before the move to
 * Fastify, so clients see the same answers. Bodies may be gzip, deflate or br compressed; the
 * limit (MAX_EVENT_BYTES) counts the bytes after decompression, so a small bomb cannot inflate
 * past it; a charset must be a UTF one; the top level must be an object or an array; an empty
 * body reads as `{}`. A body of any other content type is not read at all (Express ignored
 * it too): the route sees no body, and validation says what is missing.
 */
export function acceptJsonBodies(fastify: FastifyInstance, maxBytes: number): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    (request: FastifyRequest, payload: IncomingMessage): Promise<unknown> =>
      readJsonBody(request.headers, payload, maxBytes, (text) => bodyTexts.set(request, text)),
  );
  fastify.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume();
    done(null, undefined);
  });
}

/** The text of each JSON body read, for as long as its request lives. */
const bodyTexts = new WeakMap<FastifyRequest, string>();

/**
 * The JSON text the body of `request` was parsed from (decompressed and decoded), as the
 * client sent it; undefined for a request whose body was not read as JSON.
 */
export function jsonBodyText(request: FastifyRequest): string | undefined {
  return bodyTexts.get(request);
}

export async function readJsonBody(
  headers: IncomingHttpHeaders,
  payload: Readable,
  maxBytes: number,
  onText?: (text: string) => void,
): Promise<unknown> {
  const decoder = decoderFor(headers['content-type']);
  if (decoder === undefined) throw await afterDraining(payload, 'charset.unsupported');
  const bytes = await readBytes(headers, payload, maxBytes);
  const text = decoder === 'utf-8' ? utf8(bytes) : decoder.decode(bytes);
  onText?.(text);
  if (text.length === 0) return {};
  // Express's strict mode: a bare string, number or literal is no request body.
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') throw new RequestBodyError('entity.parse.failed');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RequestBodyError('entity.parse.failed');
  }
}

/** The body's bytes, decompressed; refused once they pass `maxBytes`. */
async function readBytes(
  headers: IncomingHttpHeaders,
  payload: Readable,
  maxBytes: number,
): Promise<Buffer> {
  const encoding = (headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding === 'identity' && Number(headers['content-length']) > maxBytes) {
    throw await afterDraining(payload, 'entity.too.large');
  }
  const decompress = decompressorFor(encoding);
  if (decompress === null) throw await afterDraining(payload, 'encoding.unsupported');
  return collect(payload, decompress, maxBytes);
}

function collect(
  payload: Readable,
  decompress: Transform | undefined,
  maxBytes: number,
): Promise<Buffer> {
  const source = decompress === undefined ? payload : payload.pipe(decompress);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const stop = () => {
      settled = true;
      source.off('data', onData);
      if (decompress !== undefined) {
        payload.unpipe(decompress);
        decompress.destroy();
      }
    };
    const fail = (error: Error) => {
      if (settled) return;
      stop();
      // Read off the rest first, as Express did: an answer written while the client is still
      // sending would be lost to the reset that closing an unread socket causes.
      void drain(payload).then(() => reject(error));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) fail(new RequestBodyError('entity.too.large'));
      else chunks.push(chunk);
    };
    source.on('data', onData);
    source.once('end', () => {
      if (settled) return;
      stop();
      // Bytes after the end of the compressed stream are dropped, but the request must end.
      if (decompress !== undefined) payload.resume();
      resolve(Buffer.concat(chunks, received));
    });
    decompress?.once('error', () => fail(new RequestBodyError('encoding.failed')));
    payload.once('error', () => fail(new RequestBodyError('request.aborted')));
    payload.once('close', () => {
      if (!payload.readableEnded) fail(new RequestBodyError('request.aborted'));
    });
  });
}

/** undefined: as it is; null: not an encoding we read. */
function decompressorFor(encoding: string): Transform | undefined | null {
  switch (encoding) {
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return null;
  }
}

/** 'utf-8' (the common case, decoded without a TextDecoder); undefined: not a UTF charset. */
function decoderFor(contentType: string | undefined): 'utf-8' | TextDecoder | undefined {
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (charset === undefined || charset === 'utf-8' || charset === 'utf8') return 'utf-8';
  if (!charset.startsWith('utf-')) return undefined;
  try {
    return new TextDecoder(charset);
  } catch {
    return undefined;
  }
}

/** UTF-8 without its byte order mark, which JSON.parse would refuse. */
function utf8(bytes: Buffer): string {
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return bytes.toString('utf8', bom ? 3 : 0);
}

async function afterDraining(payload: Readable, type: BodyErrorType): Promise<RequestBodyError> {
  await drain(payload);
  return new RequestBodyError(type);
}

function drain(payload: Readable): Promise<void> {
  if (payload.readableEnded || payload.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    payload.once('end', resolve);
    payload.once('close', resolve);
    payload.resume();
  });
}
