import { Readable, Transform, TransformCallback, pipeline } from 'node:stream';
import { constants, createBrotliDecompress, createUnzip } from 'node:zlib';

/**
 * Lenient at the end, as browsers are: a compressed answer whose stream stops without its
 * final block or checksum still yields what it holds. Bytes that are not the announced format
 * at all still fail, with zlib's `Z_*` error code.
 */
const ZLIB_OPTIONS = { flush: constants.Z_SYNC_FLUSH, finishFlush: constants.Z_SYNC_FLUSH };
const BROTLI_OPTIONS = {
  flush: constants.BROTLI_OPERATION_FLUSH,
  finishFlush: constants.BROTLI_OPERATION_FLUSH,
};

/** The two bytes of a zlib stream with default settings: deflate, 32 KB window. */
const ZLIB_HEADER = Buffer.from([0x78, 0x9c]);

/** An answer that carries no body, whatever its headers say. */
const BODILESS_STATUSES = new Set([204, 304]);

/**
 * The answer's body as the receiver meant it: gzip, deflate and br are inflated; an unknown
 * or stacked content-encoding is left as it came (the bytes are still shown, just not
 * decoded). Destroying the stream returned also destroys `body`, so a reader that stops early
 * still hangs up on the receiver; an error of either surfaces on the stream returned.
 */
export function decodedBody(
  body: Readable,
  status: number,
  contentEncoding: string | undefined,
): Readable {
  if (contentEncoding === undefined || BODILESS_STATUSES.has(status)) return body;
  switch (contentEncoding.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return pipeline(body, createUnzip(ZLIB_OPTIONS), ignoreError);
    case 'deflate':
      // RFC 9110 means zlib-wrapped deflate by it; some servers send raw deflate.
      return pipeline(body, new ZlibHeaderWhenRaw(), createUnzip(ZLIB_OPTIONS), ignoreError);
    case 'br':
      return pipeline(body, createBrotliDecompress(BROTLI_OPTIONS), ignoreError);
    default:
      return body;
  }
}

/** The reader sees a failure on the last stream of the pipeline: nothing left to handle here. */
function ignoreError(): void {}

/**
 * Puts a zlib header in front of raw deflate data, so one inflater reads both forms of
 * `deflate`; the missing trailing checksum is what the lenient finish tolerates.
 */
class ZlibHeaderWhenRaw extends Transform {
  /** The first bytes until two have come; null once the form is known. */
  private start: Buffer | null = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.start === null) return done(null, chunk);
    const head = Buffer.concat([this.start, chunk]);
    if (head.length < 2) {
      this.start = head;
      return done();
    }
    this.start = null;
    if (!hasZlibHeader(head)) this.push(ZLIB_HEADER);
    done(null, head);
  }

  override _flush(done: TransformCallback): void {
    if (this.start !== null && this.start.length > 0) this.push(this.start);
    done();
  }
}

/** RFC 1950: compression method 8 (deflate), window up to 32 KB, header a multiple of 31. */
function hasZlibHeader(bytes: Buffer): boolean {
  const cmf = bytes[0];
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (cmf * 256 + bytes[1]) % 31 === 0;
}
