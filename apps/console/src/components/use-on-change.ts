import { useEffect, useRef } from 'preact/hooks';

/**
 * Runs `effect` when `value` changes, never on mount: an effect runs after the first paint,
 * so a reset on mount would wipe whatever was typed into the form in the meantime.
 */
export function useOnChange<T>(value: T, effect: () => void): void {
  const seen = useRef(value);
  useEffect(() => {
    if (Object.is(seen.current, value)) return;
    seen.current = value;
    effect();
  }, [value]);
}
