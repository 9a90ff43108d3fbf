import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { decodedBody } from './content-decoding';

const TEXT = Buffer.from('{"received":true} '.repeat(50));
/** Text that compresses poorly, so half of its gzip form holds about half of it. */
const RANDOM_TEXT = Buffer.from(randomBytes(4096).toString('hex'));

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** The bytes as a stream of one-byte chunks: decoders must not rely on chunk boundaries. */
function byteByByte(bytes: Buffer): Readable {
  return Readable.from([...bytes].map((byte) => Buffer.from([byte])));
}

describe('decodedBody', () => {
  it.each<[string, string, Buffer]>([
    ['gzip', 'gzip', gzipSync(TEXT)],
    ['x-gzip', 'x-gzip', gzipSync(TEXT)],
    ['a coding named in capitals and padded', ' GZIP ', gzipSync(TEXT)],
    ['deflate as RFC 9110 means it (zlib)', 'deflate', deflateSync(TEXT)],
    ['deflate sent raw, as some servers do', 'deflate', deflateRawSync(TEXT)],
    ['br', 'br', brotliCompressSync(TEXT)],
  ])('inflates %s', async (_label, encoding, compressed) => {
    expect(await read(decodedBody(Readable.from([compressed]), 200, encoding))).toEqual(TEXT);
    expect(await read(decodedBody(byteByByte(compressed), 200, encoding))).toEqual(TEXT);
  });

  it.each<[string, string | undefined, number]>([
    ['no content-encoding', undefined, 200],
    ['identity', 'identity', 200],
    ['an encoding it does not know', 'zstd', 200],
    ['stacked encodings', 'gzip, br', 200],
    ['a 204, whatever its headers say', 'gzip', 204],
    ['a 304, whatever its headers say', 'gzip', 304],
  ])('leaves the bytes as they came with %s', async (_label, encoding, status) => {
    const body = Readable.from([TEXT]);
    expect(decodedBody(body, status, encoding)).toBe(body);
  });

  it('keeps all of a gzip answer that stops without its checksum', async () => {
    const cut = gzipSync(TEXT).subarray(0, -8);
    expect(await read(decodedBody(Readable.from([cut]), 200, 'gzip'))).toEqual(TEXT);
  });

  it('keeps the start of a gzip answer cut halfway through its data', async () => {
    const compressed = gzipSync(RANDOM_TEXT);
    const cut = compressed.subarray(0, compressed.length / 2);
    const decoded = await read(decodedBody(Readable.from([cut]), 200, 'gzip'));
    expect(decoded.length).toBeGreaterThan(0);
    expect(decoded.length).toBeLessThan(RANDOM_TEXT.length);
    expect(decoded).toEqual(RANDOM_TEXT.subarray(0, decoded.length));
  });

  it('fails with a zlib code when the body is not what its content-encoding says', async () => {
    const decoded = decodedBody(Readable.from([Buffer.from('this is not gzip')]), 200, 'gzip');
    await expect(read(decoded)).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });

  it('passes an error of the source on, with its code', async () => {
    const source = new PassThrough();
    const decoded = decodedBody(source, 200, 'gzip');
    source.write(gzipSync(TEXT).subarray(0, 20));
    const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    source.destroy(reset);
    await expect(read(decoded)).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });

  it('destroys the source when the reader stops early, so the connection is dropped', async () => {
    const source = new PassThrough();
    const decoded = decodedBody(source, 200, 'deflate');
    source.write(deflateSync(TEXT));
    for await (const chunk of decoded) {
      expect(chunk).toBeDefined();
      break;
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(source.destroyed).toBe(true);
  });
});
