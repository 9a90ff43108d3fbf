/**
 * A receiver's answer may be any bytes: a PNG, a NUL-padded buffer, Latin-1, half a UTF-8
 * sequence. Postgres `text` refuses NUL and invalid UTF-8, and a refused attempt record would
 * leave the delivery unrecorded, so every answer is turned into text Postgres always accepts
 * and a person can still read.
 */

/** Invisible C0 controls (tab, line feed and carriage return are kept) and DEL. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/** U+2400 "␀" … U+241F, and U+2421 "␡" for DEL: each control stays visible and distinct. */
function controlPicture(character: string): string {
  const code = character.charCodeAt(0);
  return String.fromCharCode(code === 0x7f ? 0x2421 : 0x2400 + code);
}

export interface StorableTextOptions {
  /** The stored text's maximum size in UTF-8 bytes. */
  limitBytes: number;
  /**
   * The bytes are a prefix of a longer answer: an incomplete UTF-8 sequence at their end is
   * the cut, not bad data, and is dropped rather than shown as U+FFFD.
   */
  truncated?: boolean;
}

/**
 * Decodes as UTF-8 (invalid sequences become U+FFFD), shows control characters as their
 * Unicode control pictures (NUL as "␀") and keeps at most `limitBytes` UTF-8 bytes, cut
 * between characters so no character (a surrogate pair included) is ever split.
 */
export function toStorableText(bytes: Uint8Array, options: StorableTextOptions): string {
  const decoded = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes, {
    stream: options.truncated === true,
  });
  return truncateUtf8(decoded.replace(CONTROL_CHARACTERS, controlPicture), options.limitBytes);
}

function truncateUtf8(text: string, limitBytes: number): string {
  // Each UTF-16 code unit is at most 3 UTF-8 bytes: short texts need no encoding at all.
  if (text.length * 3 <= limitBytes) return text;
  const encoded = Buffer.from(text, 'utf8');
  if (encoded.length <= limitBytes) return text;
  let end = limitBytes;
  // A continuation byte (10xxxxxx) right after the cut means the cut is inside a character.
  while (end > 0 && (encoded[end] & 0xc0) === 0x80) end -= 1;
  return encoded.subarray(0, end).toString('utf8');
}
