import type { HttpConfig } from '@libs/config';
import type { Principal } from '../auth/principal';
import { rateLimitOf, throttleWindowOf, trackerOf } from './api-rate-limit';

const admin: Principal = { kind: 'admin' };
const keyA1: Principal = { kind: 'account', accountId: 'a', keyId: 'key-1' };
const keyA2: Principal = { kind: 'account', accountId: 'a', keyId: 'key-2' };

describe('API rate limits', () => {
  const limits: HttpConfig['rateLimits'] = {
    accountKey: { perSecond: 5, burst: 5 },
    adminKey: undefined,
  };

  it('applies the account limit to account keys and the admin limit (here: none) to the admin key', () => {
    expect(rateLimitOf(keyA1, limits)).toEqual({ perSecond: 5, burst: 5 });
    expect(rateLimitOf(admin, limits)).toBeUndefined();
    const adminLimited = { ...limits, adminKey: { perSecond: 50, burst: 100 } };
    expect(rateLimitOf(admin, adminLimited)).toEqual({ perSecond: 50, burst: 100 });
  });

  it('gives every account key a budget of its own, apart from the admin key', () => {
    const trackers = [admin, keyA1, keyA2].map(trackerOf);
    expect(new Set(trackers).size).toBe(3);
    expect(trackerOf(keyA1)).toBe(trackerOf({ ...keyA1 }));
  });

  it.each<[number, number, number, number]>([
    // perSecond, burst → requests allowed in any window of ttlMs
    [5, 5, 5, 1000],
    [100, 200, 200, 2000],
    [1, 5, 5, 5000],
    [100, 10, 10, 100],
    [3, 1, 1, 333],
    [100_000, 100, 100, 1],
  ])(
    'counts %d/s with a burst of %d as %d requests in any %d ms',
    (perSecond, burst, limit, ttlMs) => {
      expect(throttleWindowOf({ perSecond, burst })).toEqual({ limit, ttlMs });
    },
  );
});
