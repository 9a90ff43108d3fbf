import { toStorableText } from './storable-text';

const bytes = (...values: number[]) => Uint8Array.from(values);
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');
/** What Postgres `text` refuses: NUL, and (in a JS string) a lone surrogate. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storable = (text: string) => !text.includes('\u0000') && !LONE_SURROGATE.test(text);

describe('toStorableText', () => {
  it.each<[string, Uint8Array, number, boolean, string]>([
    ['plain JSON stays as it is', utf8('{"ok":true}'), 100, false, '{"ok":true}'],
    ['tab, line feed and carriage return stay', utf8('a\tb\r\nc'), 100, false, 'a\tb\r\nc'],
    ['NUL becomes ␀', bytes(0x61, 0x00, 0x62), 100, false, 'a␀b'],
    [
      'other C0 controls and DEL become pictures',
      bytes(0x01, 0x1b, 0x1f, 0x7f),
      100,
      false,
      '␁␛␟␡',
    ],
    ['invalid UTF-8 becomes U+FFFD', bytes(0x61, 0xff, 0xfe, 0x62), 100, false, 'a\uFFFD\uFFFDb'],
    ['Latin-1 é becomes U+FFFD', bytes(0x63, 0x61, 0x66, 0xe9), 100, false, 'caf\uFFFD'],
    [
      'a lone surrogate encoded in UTF-8 (CESU) becomes U+FFFD',
      bytes(0xed, 0xa0, 0x80),
      100,
      false,
      '\uFFFD\uFFFD\uFFFD',
    ],
    ['multi-byte text is kept', utf8('Grüße, 世界 😀'), 100, false, 'Grüße, 世界 😀'],
    ['a BOM is kept', utf8('\uFEFFhi'), 100, false, '\uFEFFhi'],
    ['the cap counts UTF-8 bytes', utf8('abcdef'), 4, false, 'abcd'],
    ['a cap inside an emoji keeps the pair whole (drops it)', utf8('ab😀'), 5, false, 'ab'],
    ['a cap right after an emoji keeps it', utf8('ab😀c'), 6, false, 'ab😀'],
    ['a cap inside a 3-byte character drops it', utf8('a世'), 3, false, 'a'],
    [
      'replacement characters count 3 bytes each',
      bytes(0xff, 0xff, 0xff),
      7,
      false,
      '\uFFFD\uFFFD',
    ],
    ['control pictures count 3 bytes each', bytes(0x00, 0x00), 4, false, '␀'],
    ['a cut answer drops its half character', bytes(0x61, 0xe4, 0xb8), 100, true, 'a'],
    ['a complete answer shows its half character', bytes(0x61, 0xe4, 0xb8), 100, false, 'a\uFFFD'],
    ['an empty answer is empty', bytes(), 100, false, ''],
  ])('%s', (_label, input, limitBytes, truncated, expected) => {
    const text = toStorableText(input, { limitBytes, truncated });
    expect(text).toBe(expected);
    expect(storable(text)).toBe(true);
    expect(byteLength(text)).toBeLessThanOrEqual(limitBytes);
  });

  it('turns any bytes into storable text within the cap', () => {
    // Every byte value, in many alignments against the cap: no NUL, no lone surrogate, no overflow.
    const all = Uint8Array.from({ length: 4096 }, (_, index) => (index * 7919) % 256);
    for (let limitBytes = 1; limitBytes <= 64; limitBytes += 1) {
      for (const truncated of [false, true]) {
        const text = toStorableText(all, { limitBytes, truncated });
        expect(storable(text)).toBe(true);
        expect(byteLength(text)).toBeLessThanOrEqual(limitBytes);
        expect(byteLength(text)).toBeGreaterThan(limitBytes - 4);
      }
    }
  });
});
