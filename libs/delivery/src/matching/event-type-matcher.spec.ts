import { EVENT_TYPE_PATTERN_SYNTAX, matchesEventType } from './event-type-matcher';

describe('matchesEventType', () => {
  it.each<[string[], string, boolean]>([
    [['*'], 'user.created', true],
    [['user.created'], 'user.created', true],
    [['user.created'], 'user.deleted', false],
    [['user.*'], 'user.created', true],
    [['user.*'], 'user.profile.updated', true],
    [['user.*'], 'user', false],
    [['user.*'], 'users.created', false],
    [['user.*'], 'campaign.user.created', false],
    [['user.profile.*'], 'user.profile.updated', true],
    [['user.profile.*'], 'user.created', false],
    [['invoice.paid', 'user.*'], 'user.created', true],
    [['invoice.paid', 'user.*'], 'invoice.voided', false],
    [['user.created'], 'user.created.v2', false],
    [[], 'user.created', false],
  ])('%j receives %s: %s', (patterns, type, expected) => {
    expect(matchesEventType(patterns, type)).toBe(expected);
  });

  it.each([
    ['*', true],
    ['user.created', true],
    ['user.*', true],
    ['a.b.*', true],
    ['*.created', false],
    ['user.*.created', false],
    ['user.', false],
    ['', false],
    ['user created', false],
  ])('subscription pattern %j is valid: %s', (pattern, valid) => {
    expect(EVENT_TYPE_PATTERN_SYNTAX.test(pattern)).toBe(valid);
  });
});
