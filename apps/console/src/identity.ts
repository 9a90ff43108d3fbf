import { api, unwrap } from './api/client';

/** Who the key belongs to: the operator (admin key) or one account. */
export type Identity = { kind: 'admin' } | { kind: 'account'; accountId: string };

/**
 * Asks the api who this key is: the overview answers for every account with the admin key
 * and for the key's own account otherwise. A wrong key fails here with the api's 401.
 */
export async function whoAmI(): Promise<Identity> {
  const overview = await unwrap(api.GET('/v1/stats/overview'));
  return overview.account_id === null
    ? { kind: 'admin' }
    : { kind: 'account', accountId: overview.account_id };
}
