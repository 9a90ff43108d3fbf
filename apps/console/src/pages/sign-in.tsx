import { useState } from 'preact/hooks';
import type { ApiProblem } from '../api/client';
import { ProblemBox } from '../components/common';

export function SignInPage({
  onSignIn,
  problem,
}: {
  onSignIn: (key: string) => Promise<void>;
  problem: ApiProblem | undefined;
}) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in">
      <h1>Delivery console</h1>
      <p>
        Sign in with the admin key (every account) or an account key (<code>whk_…</code>, that
        account only). The key stays in this tab and is forgotten when it closes.
      </p>
      {problem && <ProblemBox problem={problem} what="Could not sign in" />}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!key.trim()) return;
          setBusy(true);
          void onSignIn(key.trim()).finally(() => setBusy(false));
        }}
      >
        <label class="field">
          <span>API key</span>
          <input
            type="password"
            name="api-key"
            autocomplete="off"
            spellcheck={false}
            autoFocus
            required
            value={key}
            onInput={(event) => setKey(event.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
