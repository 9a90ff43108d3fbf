import { Readable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { readJsonBody } from './json-body.parser';
import { BodyErrorType, RequestBodyError } from './request-body.errors';

const LIMIT = 1024;
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** A request body arriving in `chunks`; `cutOff`: the client hangs up before the end. */
function body(chunks: Buffer[], cutOff = false): Readable {
  const stream = new Readable({ read: () => undefined });
  setImmediate(() => {
    for (const chunk of chunks) stream.push(chunk);
    if (cutOff) stream.destroy(new Error('aborted'));
    else stream.push(null);
  });
  return stream;
}

const read = (headers: Record<string, string>, chunks: Buffer[], cutOff = false) =>
  readJsonBody({ 'content-type': 'application/json', ...headers }, body(chunks, cutOff), LIMIT);

async function refusal(work: Promise<unknown>): Promise<BodyErrorType | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    if (error instanceof RequestBodyError) return error.type;
    throw error;
  }
}

describe('readJsonBody', () => {
  it.each<[string, Record<string, string>, Buffer[], unknown]>([
    ['an object', {}, [json({ a: 1 })], { a: 1 }],
    ['an array', {}, [json([1, 2])], [1, 2]],
    ['an object in pieces', {}, [Buffer.from('{"a":'), Buffer.from('"é"}')], { a: 'é' }],
    ['an empty body, as {}', {}, [], {}],
    ['a UTF-8 byte order mark', {}, [Buffer.from([0xef, 0xbb, 0xbf]), json({ a: 1 })], { a: 1 }],
    [
      'UTF-16 when the charset says so',
      { 'content-type': 'application/json; charset=utf-16le' },
      [Buffer.from('{"a":"é"}', 'utf16le')],
      { a: 'é' },
    ],
    ['gzip', { 'content-encoding': 'gzip' }, [gzipSync(json({ a: 1 }))], { a: 1 }],
    ['deflate', { 'content-encoding': 'deflate' }, [deflateSync(json({ a: 1 }))], { a: 1 }],
    ['br', { 'content-encoding': 'BR' }, [brotliCompressSync(json({ a: 1 }))], { a: 1 }],
    ['identity', { 'content-encoding': 'identity' }, [json({ a: 1 })], { a: 1 }],
  ])('reads %s', async (_label, headers, chunks, expected) => {
    await expect(read(headers, chunks)).resolves.toEqual(expected);
  });

  it.each<[string, Record<string, string>, Buffer[], BodyErrorType]>([
    ['malformed JSON', {}, [Buffer.from('{"a":')], 'entity.parse.failed'],
    ['a bare string (strict, as Express)', {}, [json('text')], 'entity.parse.failed'],
    ['a bare number', {}, [Buffer.from(' 42')], 'entity.parse.failed'],
    ['whitespace only', {}, [Buffer.from('  \n')], 'entity.parse.failed'],
    [
      'a charset that is not UTF',
      { 'content-type': 'application/json; charset=latin1' },
      [json({})],
      'charset.unsupported',
    ],
    [
      'a UTF charset nobody knows',
      { 'content-type': 'application/json; charset=utf-nonsense' },
      [json({})],
      'charset.unsupported',
    ],
    ['an unknown encoding', { 'content-encoding': 'compress' }, [json({})], 'encoding.unsupported'],
    ['gzip that is not', { 'content-encoding': 'gzip' }, [json({})], 'encoding.failed'],
    ['br that is gzip', { 'content-encoding': 'br' }, [gzipSync(json({}))], 'encoding.failed'],
    [
      'a Content-Length over the limit',
      { 'content-length': String(LIMIT + 1) },
      [Buffer.alloc(LIMIT + 1, 0x20)],
      'entity.too.large',
    ],
    [
      'more bytes than the limit without a Content-Length',
      {},
      [Buffer.alloc(LIMIT, 0x20), Buffer.from('{}')],
      'entity.too.large',
    ],
    [
      'gzip inflating past the limit',
      { 'content-encoding': 'gzip' },
      [gzipSync(json({ a: 'x'.repeat(LIMIT * 50) }))],
      'entity.too.large',
    ],
  ])('refuses %s', async (_label, headers, chunks, type) => {
    await expect(refusal(read(headers, chunks))).resolves.toBe(type);
  });

  it('refuses a body whose client hung up before its end', async () => {
    await expect(refusal(read({}, [Buffer.from('{"a":')], true))).resolves.toBe('request.aborted');
  });

  it('reads the whole refused body before answering, so the answer is not lost to a reset', async () => {
    const stream = body([Buffer.alloc(LIMIT + 1, 0x20), Buffer.alloc(LIMIT, 0x20)]);
    const headers = { 'content-type': 'application/json', 'content-length': String(2 * LIMIT + 1) };
    await expect(refusal(readJsonBody(headers, stream, LIMIT))).resolves.toBe('entity.too.large');
    expect(stream.readableEnded).toBe(true);
  });
});
