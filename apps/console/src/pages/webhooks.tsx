import { type Webhook, type WebhookStats, api, unwrap } from '../api/client';
import { Empty, Loading, ProblemBox, StatusBadge } from '../components/common';
import { AccountFilter } from '../components/account-filter';
import { useApi } from '../components/use-api';
import { formatAgo, formatRate } from '../format';
import type { Identity } from '../identity';
import { href } from '../router';

const REFRESH_MS = 10_000;

/** The webhooks with their health over 24 h, one stats call each. */
async function webhooksWithStats(
  accountId: string | undefined,
): Promise<{ webhook: Webhook; stats: WebhookStats | undefined }[]> {
  const webhooks = await unwrap(
    api.GET('/v1/webhooks', { params: { query: { account_id: accountId } } }),
  );
  return Promise.all(
    webhooks.map(async (webhook) => ({
      webhook,
      stats: await unwrap(
        api.GET('/v1/webhooks/{id}/stats', { params: { path: { id: webhook.id } } }),
      ).catch(() => undefined),
    })),
  );
}

export function WebhooksPage({ identity, query }: { identity: Identity; query: URLSearchParams }) {
  const accountId = query.get('account_id') ?? undefined;
  const list = useApi(() => webhooksWithStats(accountId), accountId ?? '', REFRESH_MS);
  const now = new Date();
  return (
    <section aria-labelledby="webhooks-title">
      <h1 id="webhooks-title">Webhooks</h1>
      {identity.kind === 'admin' && <AccountFilter path="/webhooks" accountId={accountId} />}
      {list.problem && <ProblemBox problem={list.problem} what="Could not load webhooks" />}
      {list.data === undefined ? (
        !list.problem && <Loading />
      ) : list.data.length === 0 ? (
        <Empty>
          {accountId ? `Account ${accountId} has no webhooks.` : 'No webhooks yet.'} Create one with{' '}
          <code>POST /v1/webhooks</code>.
        </Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">URL</th>
                {identity.kind === 'admin' && <th scope="col">Account</th>}
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Success (24 h)
                </th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Last success</th>
                <th scope="col">Last failure</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map(({ webhook, stats }) => (
                <tr key={webhook.id} data-webhook-id={webhook.id}>
                  <td class="ellipsis url">
                    <a href={href(`/webhooks/${webhook.id}`)} title={webhook.url}>
                      {webhook.url}
                    </a>
                  </td>
                  {identity.kind === 'admin' && <td class="ellipsis">{webhook.account_id}</td>}
                  <td>
                    <StatusBadge status={webhook.enabled ? 'enabled' : 'disabled'} />
                    {webhook.disabled_reason && (
                      <span class="reason" title={webhook.disabled_reason}>
                        {' '}
                        {webhook.disabled_reason}
                      </span>
                    )}
                  </td>
                  <td class="num">{formatRate(stats?.success_rate ?? null)}</td>
                  <td class="num">{stats?.attempts ?? '—'}</td>
                  <td>{formatAgo(stats?.last_success_at, now)}</td>
                  <td>{formatAgo(stats?.last_failure_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
