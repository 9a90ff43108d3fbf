/** Who is calling: the operator (admin key) or, later, one account through its own key. */
export type Principal = { kind: 'admin' };

export interface AuthenticatedRequest {
  principal?: Principal;
}
