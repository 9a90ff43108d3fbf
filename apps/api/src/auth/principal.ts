/** Who is calling: the operator (admin key) or one account through one of its keys. */
export type Principal = { kind: 'admin' } | { kind: 'account'; accountId: string; keyId: string };

export interface AuthenticatedRequest {
  principal?: Principal;
}
