import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiProblem } from '../api/client';

export interface Loaded<T> {
  data: T | undefined;
  problem: ApiProblem | undefined;
  loading: boolean;
  /** When the data shown was fetched. */
  updatedAt: Date | undefined;
  reload: () => void;
}

/**
 * Runs `load` when `key` changes and, with `refreshMs`, again on that interval while the tab
 * is visible. An answer that arrives after a newer request started is dropped, so a slow
 * page of old filters never overwrites the current one.
 */
export function useApi<T>(load: () => Promise<T>, key: string, refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<Omit<Loaded<T>, 'reload'>>({
    data: undefined,
    problem: undefined,
    loading: true,
    updatedAt: undefined,
  });
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback((keepData: boolean) => {
    const mine = ++generation.current;
    setState((previous) => ({
      ...previous,
      data: keepData ? previous.data : undefined,
      problem: keepData ? previous.problem : undefined,
      loading: true,
    }));
    loadRef.current().then(
      (data) => {
        if (mine !== generation.current) return;
        setState({ data, problem: undefined, loading: false, updatedAt: new Date() });
      },
      (error: unknown) => {
        if (mine !== generation.current) return;
        const problem = error instanceof ApiProblem ? error : new ApiProblem(0, String(error));
        setState((previous) => ({ ...previous, problem, loading: false }));
      },
    );
  }, []);

  useEffect(() => {
    run(false);
    if (refreshMs === undefined) return undefined;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') run(true);
    }, refreshMs);
    return () => clearInterval(timer);
  }, [key, refreshMs, run]);

  return { ...state, reload: () => run(true) };
}
