import type { ComponentChildren } from 'preact';
import type { ApiProblem, DeliveryStatus } from '../api/client';

export function StatusBadge({ status }: { status: DeliveryStatus | 'enabled' | 'disabled' }) {
  return <span class={`badge badge-${status}`}>{status}</span>;
}

/** An error the user can act on: what failed, and the api's own words. */
export function ProblemBox({ problem, what }: { problem: ApiProblem; what: string }) {
  return (
    <div class="problem" role="alert">
      <strong>{what}</strong>
      <span>
        {problem.status === 0 ? problem.message : `${problem.status}: ${problem.message}`}
      </span>
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function Loading() {
  return (
    <p class="loading" aria-live="polite">
      Loading…
    </p>
  );
}

/** A short-lived confirmation of what an action did (or why it did not), read by screen readers. */
export function Notice({ notice }: { notice: { kind: 'ok' | 'error'; text: string } | undefined }) {
  if (notice === undefined) return null;
  return (
    <p class={`notice notice-${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
      {notice.text}
    </p>
  );
}

export function Field({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
    </label>
  );
}
