import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiProblem, whenUnauthorized } from './api/client';
import { ProblemBox } from './components/common';
import { type Identity, whoAmI } from './identity';
import { DeliveriesPage } from './pages/deliveries';
import { DeliveryPage } from './pages/delivery';
import { EventPage } from './pages/event';
import { OverviewPage } from './pages/overview';
import { SignInPage } from './pages/sign-in';
import { WebhookPage } from './pages/webhook';
import { WebhooksPage } from './pages/webhooks';
import { href, match, useLocation } from './router';
import { forgetKey, storeKey, storedKey } from './session';

const NAV = [
  { path: '/deliveries', label: 'Deliveries' },
  { path: '/webhooks', label: 'Webhooks' },
  { path: '/events', label: 'Events' },
  { path: '/overview', label: 'Overview' },
];

function App() {
  const [identity, setIdentity] = useState<Identity | undefined>(undefined);
  const [checking, setChecking] = useState(storedKey() !== null);
  const [problem, setProblem] = useState<ApiProblem | undefined>(undefined);

  const signOut = (reason?: ApiProblem) => {
    forgetKey();
    setIdentity(undefined);
    setProblem(reason);
  };

  useEffect(() => {
    whenUnauthorized(() => signOut(new ApiProblem(401, 'The key was refused: sign in again')));
    if (storedKey() === null) return;
    whoAmI()
      .then(setIdentity, (error: unknown) =>
        signOut(error instanceof ApiProblem ? error : new ApiProblem(0, String(error))),
      )
      .finally(() => setChecking(false));
  }, []);

  const signIn = async (key: string) => {
    storeKey(key);
    setProblem(undefined);
    try {
      setIdentity(await whoAmI());
    } catch (error) {
      forgetKey();
      setProblem(error instanceof ApiProblem ? error : new ApiProblem(0, String(error)));
    }
  };

  if (checking) return <main class="page">Checking the key…</main>;
  if (identity === undefined) return <SignInPage onSignIn={signIn} problem={problem} />;
  return <Shell identity={identity} onSignOut={() => signOut()} />;
}

function Shell({ identity, onSignOut }: { identity: Identity; onSignOut: () => void }) {
  const location = useLocation();
  const section = `/${location.path.split('/')[1] ?? ''}`;
  return (
    <>
      <a class="skip-link" href="#content">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('/deliveries')}>
          kafka-webhooks <span>console</span>
        </a>
        <nav aria-label="Sections">
          {NAV.map((item) => (
            <a
              key={item.path}
              href={href(item.path)}
              aria-current={section === item.path ? 'page' : undefined}
            >
              {item.label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span data-testid="identity">
            {identity.kind === 'admin'
              ? 'Admin key: every account'
              : `Account ${identity.accountId}`}
          </span>
          <button type="button" class="secondary" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="content" class="page" tabIndex={-1}>
        <Route identity={identity} path={location.path} query={location.query} />
      </main>
    </>
  );
}

function Route({
  identity,
  path,
  query,
}: {
  identity: Identity;
  path: string;
  query: URLSearchParams;
}) {
  let params: Record<string, string> | null;
  if (path === '/deliveries') return <DeliveriesPage identity={identity} query={query} />;
  if ((params = match('/deliveries/:id', path))) return <DeliveryPage id={params.id ?? ''} />;
  if (path === '/webhooks') return <WebhooksPage identity={identity} query={query} />;
  if ((params = match('/webhooks/:id', path))) return <WebhookPage id={params.id ?? ''} />;
  if (path === '/events') return <EventPage id={undefined} />;
  if ((params = match('/events/:id', path))) return <EventPage id={params.id ?? ''} />;
  if (path === '/overview') return <OverviewPage identity={identity} query={query} />;
  return <ProblemBox problem={new ApiProblem(404, `No page at ${path}`)} what="Page not found" />;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
