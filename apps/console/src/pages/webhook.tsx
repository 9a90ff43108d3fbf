import { useState } from 'preact/hooks';
import { ApiProblem, api, unwrap } from '../api/client';
import { Field, Loading, Notice, ProblemBox, StatusBadge } from '../components/common';
import { useApi } from '../components/use-api';
import { formatAgo, formatRate, formatTime, isoToLocalInput, localInputToIso } from '../format';
import { href } from '../router';

type NoticeState = { kind: 'ok' | 'error'; text: string } | undefined;

const REFRESH_MS = 10_000;

function asProblem(error: unknown): ApiProblem {
  return error instanceof ApiProblem ? error : new ApiProblem(0, String(error));
}

export function WebhookPage({ id }: { id: string }) {
  const loaded = useApi(
    async () => {
      const path = { params: { path: { id } } };
      const [webhook, stats] = await Promise.all([
        unwrap(api.GET('/v1/webhooks/{id}', path)),
        unwrap(api.GET('/v1/webhooks/{id}/stats', path)),
      ]);
      return { webhook, stats };
    },
    id,
    REFRESH_MS,
  );
  const [notice, setNotice] = useState<NoticeState>();
  const [secret, setSecret] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [since, setSince] = useState(() =>
    isoToLocalInput(new Date(Date.now() - 60 * 60 * 1000).toISOString()),
  );

  const act = async (work: () => Promise<string>) => {
    setBusy(true);
    setNotice(undefined);
    try {
      setNotice({ kind: 'ok', text: await work() });
      loaded.reload();
    } catch (error) {
      setNotice({ kind: 'error', text: asProblem(error).message });
    } finally {
      setBusy(false);
    }
  };

  if (loaded.data === undefined) {
    return loaded.problem ? (
      <ProblemBox problem={loaded.problem} what={`Could not load webhook ${id}`} />
    ) : (
      <Loading />
    );
  }
  const { webhook, stats } = loaded.data;
  const path = { params: { path: { id } } };

  const setEnabled = (enabled: boolean) =>
    act(async () => {
      await unwrap(api.PATCH('/v1/webhooks/{id}', { ...path, body: { enabled } }));
      return enabled ? 'Enabled: new events are delivered again.' : 'Disabled.';
    });

  const rotate = () =>
    act(async () => {
      if (!window.confirm('Rotate the signing secret? The old one keeps signing for 24 hours.')) {
        return 'Rotation cancelled.';
      }
      const rotated = await unwrap(api.POST('/v1/webhooks/{id}/rotate-secret', path));
      setSecret(rotated.secret);
      return 'Secret rotated. Copy it now: it is not shown again.';
    });

  const replay = () =>
    act(async () => {
      const sinceIso = localInputToIso(since);
      if (sinceIso === undefined) throw new ApiProblem(400, 'Pick the time to replay from');
      const { queued } = await unwrap(
        api.POST('/v1/webhooks/{id}/replay', { ...path, body: { since: sinceIso } }),
      );
      return `Replay queued ${queued} ${queued === 1 ? 'delivery' : 'deliveries'}.`;
    });

  const now = new Date();
  return (
    <section aria-labelledby="webhook-title">
      <p class="crumbs">
        <a href={href('/webhooks')}>Webhooks</a> / {webhook.id}
      </p>
      <div class="title-row">
        <h1 id="webhook-title" class="title-url" title={webhook.url}>
          {webhook.url}
        </h1>
        <StatusBadge status={webhook.enabled ? 'enabled' : 'disabled'} />
      </div>
      <Notice notice={notice} />
      {secret && (
        <div class="secret" role="status">
          <label class="field">
            <span>New signing secret (shown once)</span>
            <input
              readOnly
              value={secret}
              data-testid="new-secret"
              onFocus={(event) => event.currentTarget.select()}
            />
          </label>
          <button type="button" class="secondary" onClick={() => setSecret(undefined)}>
            I have saved it
          </button>
        </div>
      )}
      <div class="columns">
        <dl class="facts">
          <dt>Account</dt>
          <dd>{webhook.account_id}</dd>
          <dt>Event types</dt>
          <dd>{webhook.event_types.join(', ')}</dd>
          <dt>Description</dt>
          <dd>{webhook.description ?? '—'}</dd>
          <dt>Disabled because</dt>
          <dd>{webhook.disabled_reason ?? '—'}</dd>
          <dt>Created</dt>
          <dd>{formatTime(webhook.created_at)}</dd>
        </dl>
        <dl class="facts" aria-label="Health over 24 hours">
          <dt>Success rate (24 h)</dt>
          <dd data-testid="success-rate">{formatRate(stats.success_rate)}</dd>
          <dt>Attempts (24 h)</dt>
          <dd>{stats.attempts}</dd>
          <dt>Deliveries (24 h)</dt>
          <dd>
            {Object.entries(stats.deliveries)
              .filter(([, count]) => count > 0)
              .map(([status, count]) => `${count} ${status}`)
              .join(', ') || 'none'}
          </dd>
          <dt>Last success</dt>
          <dd>{formatAgo(stats.last_success_at, now)}</dd>
          <dt>Last failure</dt>
          <dd>{formatAgo(stats.last_failure_at, now)}</dd>
        </dl>
      </div>
      <h2>Actions</h2>
      <div class="actions">
        <button
          type="button"
          class="secondary"
          disabled={busy}
          onClick={() => void setEnabled(!webhook.enabled)}
        >
          {webhook.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" class="secondary" disabled={busy} onClick={() => void rotate()}>
          Rotate secret
        </button>
        <a class="button secondary" href={href('/deliveries', { webhook_id: webhook.id })}>
          Its deliveries
        </a>
      </div>
      <form
        class="filters"
        aria-label="Replay"
        onSubmit={(event) => {
          event.preventDefault();
          void replay();
        }}
      >
        <Field label="Replay deliveries since">
          <input
            type="datetime-local"
            name="replay_since"
            required
            value={since}
            onInput={(event) => setSince(event.currentTarget.value)}
          />
        </Field>
        <div class="filter-actions">
          <button type="submit" disabled={busy || !webhook.enabled}>
            Replay
          </button>
        </div>
      </form>
    </section>
  );
}
