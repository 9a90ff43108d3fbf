import { useState } from 'preact/hooks';
import { ApiProblem, type Attempt, api, unwrap } from '../api/client';
import { Empty, Loading, Notice, ProblemBox, StatusBadge } from '../components/common';
import { useApi } from '../components/use-api';
import { formatDuration, formatTime } from '../format';
import { href } from '../router';

const REFRESH_MS = 2_000;

export function DeliveryPage({ id }: { id: string }) {
  const delivery = useApi(
    () => unwrap(api.GET('/v1/deliveries/{id}', { params: { path: { id } } })),
    id,
    REFRESH_MS,
  );
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | undefined>();
  const [retrying, setRetrying] = useState(false);

  const retry = async () => {
    setRetrying(true);
    setNotice(undefined);
    try {
      await unwrap(api.POST('/v1/deliveries/{id}/retry', { params: { path: { id } } }));
      setNotice({ kind: 'ok', text: 'Retry queued: a worker makes the attempt within seconds.' });
      delivery.reload();
    } catch (error) {
      const problem = error instanceof ApiProblem ? error : new ApiProblem(0, String(error));
      setNotice({ kind: 'error', text: `Retry refused: ${problem.message}` });
    } finally {
      setRetrying(false);
    }
  };

  if (delivery.data === undefined) {
    return delivery.problem ? (
      <ProblemBox problem={delivery.problem} what={`Could not load delivery ${id}`} />
    ) : (
      <Loading />
    );
  }
  const d = delivery.data;
  return (
    <section aria-labelledby="delivery-title">
      <p class="crumbs">
        <a href={href('/deliveries')}>Deliveries</a> / {d.id}
      </p>
      <div class="title-row">
        <h1 id="delivery-title">
          Delivery <StatusBadge status={d.status} />
        </h1>
        <button type="button" onClick={() => void retry()} disabled={retrying}>
          {retrying ? 'Queuing…' : 'Retry now'}
        </button>
      </div>
      <Notice notice={notice} />
      {delivery.problem && (
        <ProblemBox problem={delivery.problem} what="Refreshing failed; showing the last answer" />
      )}
      <dl class="facts">
        <dt>Event</dt>
        <dd>
          <a href={href(`/events/${d.event_id}`)}>{d.event_id}</a> ({d.event_type})
        </dd>
        <dt>Webhook</dt>
        <dd>
          <a href={href(`/webhooks/${d.webhook_id}`)}>{d.webhook_id}</a>
        </dd>
        <dt>Account</dt>
        <dd>{d.account_id}</dd>
        <dt>Created</dt>
        <dd>{formatTime(d.created_at)}</dd>
        <dt>Next attempt</dt>
        <dd>{formatTime(d.next_attempt_at)}</dd>
        <dt>Completed</dt>
        <dd>{formatTime(d.completed_at)}</dd>
      </dl>
      <h2>
        Attempts <span class="muted">({d.attempts.length})</span>
      </h2>
      {d.attempts.length === 0 ? (
        <Empty>No attempt yet: the first one is on its way.</Empty>
      ) : (
        <AttemptTable attempts={d.attempts} />
      )}
    </section>
  );
}

function AttemptTable({ attempts }: { attempts: Attempt[] }) {
  return (
    <div class="table-wrap">
      <table class="attempts">
        <thead>
          <tr>
            <th scope="col" class="num">
              #
            </th>
            <th scope="col">Started</th>
            <th scope="col">Trigger</th>
            <th scope="col">Answer</th>
            <th scope="col" class="num">
              Duration
            </th>
            <th scope="col">Error</th>
            <th scope="col">Response body</th>
          </tr>
        </thead>
        <tbody>
          {[...attempts].reverse().map((attempt) => (
            <tr key={attempt.number} data-attempt={attempt.number}>
              <td class="num">{attempt.number}</td>
              <td>{formatTime(attempt.started_at)}</td>
              <td>{attempt.trigger}</td>
              <td>
                <span class={answerClass(attempt.response_status)}>
                  {attempt.response_status === null ? 'none' : `HTTP ${attempt.response_status}`}
                </span>
              </td>
              <td class="num">{formatDuration(attempt.duration_ms)}</td>
              <td class="error-text">{attempt.error ?? '—'}</td>
              <td class="body-cell">
                {attempt.response_body ? (
                  <details>
                    <summary>{attempt.response_body.slice(0, 40) || '(empty)'}</summary>
                    <pre>{attempt.response_body}</pre>
                  </details>
                ) : (
                  <span class="muted">(empty)</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function answerClass(status: number | null): string {
  if (status === null) return 'answer answer-none';
  return status >= 200 && status < 300 ? 'answer answer-ok' : 'answer answer-bad';
}
