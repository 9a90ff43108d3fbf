import { useEffect, useState } from 'preact/hooks';
import { DELIVERY_STATUSES, type Delivery, api, unwrap } from '../api/client';
import { Empty, Field, Loading, ProblemBox, StatusBadge } from '../components/common';
import { useApi } from '../components/use-api';
import { useOnChange } from '../components/use-on-change';
import { formatTime, isoToLocalInput, localInputToIso, shortId } from '../format';
import type { Identity } from '../identity';
import { href, navigate } from '../router';

const FILTERS = ['account_id', 'webhook_id', 'event_type', 'status', 'since', 'until'] as const;
type Filters = Partial<Record<(typeof FILTERS)[number], string>>;

const PAGE_SIZE = 25;

/** `limit` in the address picks another page size (1 to 100, as the API allows). */
function pageSizeOf(query: URLSearchParams): number {
  const asked = Number(query.get('limit'));
  return Number.isInteger(asked) && asked >= 1 && asked <= 100 ? asked : PAGE_SIZE;
}
const REFRESH_MS = 5_000;

function filtersOf(query: URLSearchParams): Filters {
  const filters: Filters = {};
  for (const name of FILTERS) {
    const value = query.get(name);
    if (value) filters[name] = value;
  }
  return filters;
}

export function DeliveriesPage({
  identity,
  query,
}: {
  identity: Identity;
  query: URLSearchParams;
}) {
  const filters = filtersOf(query);
  const pageSize = pageSizeOf(query);
  const filterKey = JSON.stringify([filters, pageSize]);
  // Older pages: the cursors that led to each, so "Newer" can step back.
  const [cursors, setCursors] = useState<string[]>([]);
  const [live, setLive] = useState(true);
  useEffect(() => setCursors([]), [filterKey]);
  const cursor = cursors[cursors.length - 1];

  const page = useApi(
    () =>
      unwrap(
        api.GET('/v1/deliveries', {
          params: {
            query: {
              ...filters,
              status: filters.status as Delivery['status'] | undefined,
              limit: pageSize,
              cursor,
            },
          },
        }),
      ),
    `${filterKey}|${cursor ?? ''}`,
    live && cursor === undefined ? REFRESH_MS : undefined,
  );

  return (
    <section aria-labelledby="deliveries-title">
      <div class="title-row">
        <h1 id="deliveries-title">Deliveries</h1>
        <label class="live">
          <input
            type="checkbox"
            checked={live}
            onChange={(event) => setLive(event.currentTarget.checked)}
          />
          Live (every {REFRESH_MS / 1000} s on the first page)
        </label>
      </div>
      <FilterForm identity={identity} filters={filters} />
      {page.problem && <ProblemBox problem={page.problem} what="Could not load deliveries" />}
      {page.data === undefined ? (
        !page.problem && <Loading />
      ) : page.data.data.length === 0 ? (
        <Empty>
          {Object.keys(filters).length > 0
            ? 'No delivery matches these filters.'
            : 'No deliveries yet: publish an event to a webhook of this account.'}
        </Empty>
      ) : (
        <DeliveryTable deliveries={page.data.data} showAccount={identity.kind === 'admin'} />
      )}
      <div class="pager">
        <button
          type="button"
          class="secondary"
          disabled={cursors.length === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          ← Newer
        </button>
        <span class="muted" aria-live="polite">
          {cursors.length === 0 ? 'Newest first' : `Page ${cursors.length + 1}`}
          {page.updatedAt && ` · updated ${formatTime(page.updatedAt.toISOString()).slice(11)}`}
        </span>
        <button
          type="button"
          class="secondary"
          disabled={!page.data?.next_cursor}
          onClick={() => page.data?.next_cursor && setCursors([...cursors, page.data.next_cursor])}
        >
          Older →
        </button>
      </div>
    </section>
  );
}

function FilterForm({ identity, filters }: { identity: Identity; filters: Filters }) {
  const [draft, setDraft] = useState<Filters>(filters);
  const filterKey = JSON.stringify(filters);
  useOnChange(filterKey, () => setDraft(filters));
  const set = (name: keyof Filters) => (event: { currentTarget: { value: string } }) =>
    setDraft({ ...draft, [name]: event.currentTarget.value });
  return (
    <form
      class="filters"
      aria-label="Filters"
      onSubmit={(event) => {
        event.preventDefault();
        navigate('/deliveries', draft);
      }}
    >
      {identity.kind === 'admin' && (
        <Field label="Account">
          <input name="account_id" value={draft.account_id ?? ''} onInput={set('account_id')} />
        </Field>
      )}
      <Field label="Webhook id">
        <input name="webhook_id" value={draft.webhook_id ?? ''} onInput={set('webhook_id')} />
      </Field>
      <Field label="Event type">
        <input
          name="event_type"
          placeholder="user.created"
          value={draft.event_type ?? ''}
          onInput={set('event_type')}
        />
      </Field>
      <Field label="Status">
        <select name="status" value={draft.status ?? ''} onChange={set('status')}>
          <option value="">any</option>
          {DELIVERY_STATUSES.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Since">
        <input
          type="datetime-local"
          name="since"
          value={isoToLocalInput(draft.since)}
          onInput={(event) =>
            setDraft({ ...draft, since: localInputToIso(event.currentTarget.value) })
          }
        />
      </Field>
      <Field label="Until">
        <input
          type="datetime-local"
          name="until"
          value={isoToLocalInput(draft.until)}
          onInput={(event) =>
            setDraft({ ...draft, until: localInputToIso(event.currentTarget.value) })
          }
        />
      </Field>
      <div class="filter-actions">
        <button type="submit">Apply</button>
        <a class="button secondary" href={href('/deliveries')}>
          Clear
        </a>
      </div>
    </form>
  );
}

export function DeliveryTable({
  deliveries,
  showAccount,
}: {
  deliveries: Delivery[];
  showAccount: boolean;
}) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Status</th>
            <th scope="col">Event type</th>
            {showAccount && <th scope="col">Account</th>}
            <th scope="col">Webhook</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col">Last answer</th>
            <th scope="col">Next attempt</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((delivery) => (
            <tr key={delivery.id} data-delivery-id={delivery.id}>
              <td>
                <a href={href(`/deliveries/${delivery.id}`)}>{formatTime(delivery.created_at)}</a>
              </td>
              <td>
                <StatusBadge status={delivery.status} />
              </td>
              <td>{delivery.event_type}</td>
              {showAccount && <td class="ellipsis">{delivery.account_id}</td>}
              <td>
                <a href={href(`/webhooks/${delivery.webhook_id}`)} title={delivery.webhook_id}>
                  {shortId(delivery.webhook_id)}
                </a>
              </td>
              <td class="num">{delivery.attempt_count}</td>
              <td class="ellipsis" title={delivery.last_error ?? undefined}>
                {delivery.last_response_status !== null
                  ? `HTTP ${delivery.last_response_status}`
                  : (delivery.last_error ?? '—')}
              </td>
              <td>{formatTime(delivery.next_attempt_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
