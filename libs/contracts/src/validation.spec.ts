import { parseEventMessage, serializeEvent } from '.';

const valid = {
  id: '550e8400-e29b-41d4-a716-446655440000',
  type: 'user.created',
  account_id: 'account-1',
  campaign_id: 'campaign-1',
  data: { user_id: 'u1', email: 'user@example.com', position: 42 },
  timestamp: '2025-01-01T12:00:00Z',
};

describe('parseEventMessage', () => {
  it('accepts the contract example and keeps its bytes in schema order', () => {
    const parsed = parseEventMessage(Buffer.from(JSON.stringify(valid)));
    expect(parsed.valid).toBe(true);
    expect(parsed.valid && serializeEvent(parsed.event)).toBe(JSON.stringify(valid));
  });

  it('drops fields other producers may add', () => {
    const parsed = parseEventMessage(JSON.stringify({ ...valid, producer: 'legacy' }));
    expect(parsed.valid && serializeEvent(parsed.event)).toBe(JSON.stringify(valid));
  });

  it('posts data as it came, keys that name prototypes included', () => {
    const text = JSON.stringify(valid).replace(
      '"data":{',
      '"data":{"__proto__":{"polluted":true},"constructor":{"prototype":1},',
    );
    const parsed = parseEventMessage(text);
    expect(parsed.valid && serializeEvent(parsed.event)).toBe(text);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each<[string, Buffer | string | null, RegExp]>([
    ['a null value (tombstone)', null, /empty/],
    ['an empty value', Buffer.alloc(0), /empty/],
    ['text that is not JSON', 'hello', /not JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['a JSON string', '"event"', /not a JSON object/],
    ['no id', JSON.stringify({ ...valid, id: undefined }), /id must/],
    ['a bad timestamp', JSON.stringify({ ...valid, timestamp: 'yesterday' }), /timestamp/],
    [
      'data that is not an object',
      JSON.stringify({ ...valid, data: 'x' }),
      /data must be an object/,
    ],
    ['a type with spaces', JSON.stringify({ ...valid, type: 'user created' }), /type must/],
    [
      'an event whose data nests 5,000 levels deep',
      JSON.stringify({ ...valid, data: {} }).replace(
        '"data":{}',
        `"data":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
      ),
      /deeper than 64 levels/,
    ],
    ['bytes that are not UTF-8', Buffer.from([0xff, 0xfe, 0x00, 0x7b]), /not JSON/],
  ])('refuses %s with a reason, without throwing', (_label, value, reason) => {
    const parsed = parseEventMessage(value);
    expect(parsed.valid).toBe(false);
    expect(!parsed.valid && parsed.reason).toMatch(reason);
  });

  it('refuses a value over the size limit before parsing it', () => {
    const parsed = parseEventMessage(JSON.stringify(valid), 64);
    expect(parsed).toMatchObject({ valid: false, code: 'too_large' });
  });
});
