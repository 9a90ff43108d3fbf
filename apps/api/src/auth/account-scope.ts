import { ApiError, ApiErrorCode } from '../common/api.errors';
import { Principal } from './principal';

/**
 * What a caller may reach. The admin key reaches every account; an account key only its
 * own. Another account's resources answer 404, as if they did not exist; naming another
 * account in a write (publishing, creating) or a list filter answers 403.
 */
export class AccountScope {
  constructor(readonly principal: Principal) {}

  get isAdmin(): boolean {
    return this.principal.kind === 'admin';
  }

  /** For writes on behalf of an account: publishing an event, creating a webhook. */
  assertMayActFor(accountId: string): void {
    if (!this.covers(accountId)) {
      throw new ApiError(
        ApiErrorCode.ForbiddenAccount,
        `This API key belongs to another account than ${accountId}`,
      );
    }
  }

  /** Whether a resource of `accountId` exists as far as this caller can tell. */
  canSee(accountId: string): boolean {
    return this.covers(accountId);
  }

  /** The account to filter a list by: an account key always sees just its own. */
  listFilter(requested: string | undefined): string | undefined {
    if (this.principal.kind === 'admin') return requested;
    if (requested !== undefined) this.assertMayActFor(requested);
    return this.principal.accountId;
  }

  assertAdmin(): void {
    if (this.principal.kind !== 'admin') {
      throw new ApiError(ApiErrorCode.AdminOnly, 'Only the admin key may do this');
    }
  }

  private covers(accountId: string): boolean {
    return this.principal.kind === 'admin' || this.principal.accountId === accountId;
  }
}
