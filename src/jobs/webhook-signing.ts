// Standard Webhooks signing and the callback retry schedule.
// Ref: https://www.standardwebhooks.com/ (spec/standard-webhooks.md, v1.0.0): secret `whsec_<base64 key>`;
// signed content `${webhook-id}.${webhook-timestamp}.${body}`; HMAC-SHA256 with the base64-decoded key;
// `webhook-signature: v1,<base64 signature>`, a space-separated list on rotation; receivers compare in constant time
// and reject timestamps outside a tolerance (replay protection).
// Backoff: "full jitter" from M. Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015:
// delay = random(0, min(cap, base · 2^n)).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;
/** The spec asks for at least 24 random bytes (192 bits). */
const MIN_KEY_BYTES = 24;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
export const DEFAULT_TOLERANCE_SEC = 5 * 60;

/** Retries stop once this much time has passed since the first attempt (API.md §4). */
export const MAX_DELIVERY_AGE_MS = 24 * 60 * 60 * 1000;
export const RETRY_BASE_DELAY_MS = 5_000;
export const RETRY_MAX_DELAY_MS = 60 * 60 * 1000;
/** A floor so that full jitter never retries a failing endpoint immediately. */
export const RETRY_MIN_DELAY_MS = 1_000;

export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** The HMAC key inside a `whsec_…` secret (the prefix is optional, as in the reference libraries). */
function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!BASE64.test(encoded)) throw new Error('webhook secret must be whsec_ followed by base64');
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_KEY_BYTES) throw new Error(`webhook secret must hold at least ${MIN_KEY_BYTES} bytes`);
  return key;
}

function signature(key: Buffer, id: string, timestampSec: number | string, body: string): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`, 'utf8').digest();
}

/** The three Standard Webhooks headers for one delivery attempt. The id stays the same across retries. */
export function webhookHeaders(
  secret: string,
  id: string,
  timestampSec: number,
  body: string,
): Record<string, string> {
  // A '.' in the id or timestamp would make the signed content ambiguous (the spec forbids it).
  if (id === '' || id.includes('.')) throw new Error('webhook id must be non-empty and contain no "."');
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0) {
    throw new Error('webhook timestamp must be whole seconds since the epoch');
  }
  const sig = signature(secretKey(secret), id, timestampSec, body).toString('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': `v1,${sig}`,
  };
}

/**
 * Receiver-side check (used in tests and by anyone verifying our callbacks): true when one of the `v1` signatures
 * matches and the timestamp is within `toleranceSec` of now, in either direction.
 */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string>,
  body: string,
  toleranceSec: number = DEFAULT_TOLERANCE_SEC,
  nowSec: number = Math.floor(Date.now() / 1000),
): boolean {
  const h = lowerCaseKeys(headers);
  const id = h['webhook-id'];
  const timestamp = h['webhook-timestamp'];
  const signatures = h['webhook-signature'];
  if (!id || !timestamp || !signatures) return false;
  if (!/^\d{1,15}$/.test(timestamp)) return false;
  if (Math.abs(nowSec - Number(timestamp)) > toleranceSec) return false;
  let key: Buffer;
  try {
    key = secretKey(secret);
  } catch {
    return false;
  }
  const expected = signature(key, id, timestamp, body);
  let matched = false;
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma === -1 || entry.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    // Check every entry (no early exit), comparing equal-length buffers in constant time.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched;
}

/**
 * Delay before the next delivery attempt, after `attempt` failed ones (1 = the first delivery failed).
 * Full jitter over an exponential ceiling: uniform in [RETRY_MIN_DELAY_MS, min(1 h, 5 s · 2^(attempt−1))).
 * Callers stop retrying once MAX_DELIVERY_AGE_MS has passed since the first attempt (see nextRetryAt).
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(Number.isFinite(attempt) ? attempt : 1));
  const ceiling = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** Math.min(n - 1, 30));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.max(RETRY_MIN_DELAY_MS, Math.floor(r * ceiling));
}

/** When to try again after `attempt` failures, or null when that would fall beyond the 24 h delivery window. */
export function nextRetryAt(
  attempt: number,
  firstAttemptAtMs: number,
  nowMs: number,
  random: () => number = Math.random,
): number | null {
  const at = nowMs + retryDelayMs(attempt, random);
  return at - firstAttemptAtMs > MAX_DELIVERY_AGE_MS ? null : at;
}

function lowerCaseKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (typeof v === 'string') out[k.toLowerCase()] = v;
  return out;
}
