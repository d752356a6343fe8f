// The API key lives in sessionStorage only: it is gone when the tab closes, never sent anywhere but the
// Authorization header of same-origin API calls, and never put in a URL.
const KEY = 'atelier.apiKey';
const REUSE = 'atelier.reusePrompt';

export function getKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}
export function signOut(): void {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(REUSE);
}

/** "Reuse these settings" hands a prompt's parameters to the prompt form across a route change. */
export function stashReuse(params: Record<string, unknown>): void {
  sessionStorage.setItem(REUSE, JSON.stringify(params));
}
export function takeReuse(): Record<string, unknown> | null {
  const raw = sessionStorage.getItem(REUSE);
  sessionStorage.removeItem(REUSE);
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : null;
}
