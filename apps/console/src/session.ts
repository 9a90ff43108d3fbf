/**
 * The API key of this tab. It lives in sessionStorage: gone when the tab closes, never shared
 * with other tabs, never in a URL or a cookie, and sent only in the Authorization header.
 */
const STORAGE_KEY = 'kafka-webhooks.console.api-key';

export function storedKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
