import { useState } from 'preact/hooks';
import { api, unwrap } from '../api/client';
import { Empty, Field, Loading, ProblemBox } from '../components/common';
import { useApi } from '../components/use-api';
import { useOnChange } from '../components/use-on-change';
import { formatTime } from '../format';
import { href, navigate } from '../router';
import { DeliveryTable } from './deliveries';

export function EventPage({ id }: { id: string | undefined }) {
  const [draft, setDraft] = useState(id ?? '');
  useOnChange(id, () => setDraft(id ?? ''));
  return (
    <section aria-labelledby="event-title">
      <h1 id="event-title">Event</h1>
      <form
        class="filters"
        aria-label="Look up an event"
        onSubmit={(event) => {
          event.preventDefault();
          if (draft.trim()) navigate(`/events/${encodeURIComponent(draft.trim())}`);
        }}
      >
        <Field label="Event id">
          <input
            name="event_id"
            class="wide"
            required
            value={draft}
            onInput={(event) => setDraft(event.currentTarget.value)}
          />
        </Field>
        <div class="filter-actions">
          <button type="submit">Look up</button>
        </div>
      </form>
      {id === undefined ? (
        <Empty>Enter the id an event was published with to see whether it arrived.</Empty>
      ) : (
        <EventDetails id={id} />
      )}
    </section>
  );
}

function EventDetails({ id }: { id: string }) {
  const event = useApi(
    () => unwrap(api.GET('/v1/events/{id}', { params: { path: { id } } })),
    id,
    5_000,
  );
  if (event.data === undefined) {
    if (event.problem?.status === 404) {
      return (
        <Empty>
          No event {id} is stored (yet). It may not have been consumed: check the consumer lag in{' '}
          <a href={href('/overview')}>Overview</a>.
        </Empty>
      );
    }
    return event.problem ? (
      <ProblemBox problem={event.problem} what={`Could not load event ${id}`} />
    ) : (
      <Loading />
    );
  }
  const e = event.data;
  return (
    <>
      <dl class="facts">
        <dt>Id</dt>
        <dd>{e.id}</dd>
        <dt>Type</dt>
        <dd>{e.type}</dd>
        <dt>Account</dt>
        <dd>{e.account_id}</dd>
        <dt>Timestamp</dt>
        <dd>{formatTime(e.timestamp)}</dd>
        <dt>Stored</dt>
        <dd>{formatTime(e.received_at)}</dd>
      </dl>
      <details>
        <summary>Payload</summary>
        <pre>{JSON.stringify(e.data, null, 2)}</pre>
      </details>
      <h2>
        Deliveries <span class="muted">({e.deliveries.length})</span>
      </h2>
      {e.deliveries.length === 0 ? (
        <Empty>No enabled webhook of this account matched {e.type}.</Empty>
      ) : (
        <DeliveryTable deliveries={e.deliveries} showAccount={false} />
      )}
    </>
  );
}
