// Receiving Atelier callbacks: each delivery carries Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature) over the raw body, signed with the account's `whsec_…` secret (API.md §4). The check itself
// is the server's own (src/jobs/webhook-signing.ts); this wraps it for the header shapes receivers have in hand
// (Node's IncomingHttpHeaders, a fetch Headers object, a plain record) and parses the wrapped body.
import { DEFAULT_TOLERANCE_SEC, verifyWebhook as verifyStandardWebhook } from '../jobs/webhook-signing.ts';
import { AtelierError } from './errors.ts';
import type { Prompt, Tune } from './types.ts';

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Accepted clock difference in seconds (default 300): older deliveries are refused as replays. */
  toleranceSec?: number;
  /** The current time in seconds (tests). */
  nowSec?: number;
}

export type WebhookEvent =
  | { type: 'tune'; tune: Tune; id: string }
  | { type: 'prompt'; prompt: Prompt; id: string };

export class AtelierWebhookError extends AtelierError {
  override name = 'AtelierWebhookError';
}

function plainHeaders(h: WebhookHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  if (h instanceof Headers)
    h.forEach((v, k) => {
      out[k] = v;
    });
  else
    for (const [k, v] of Object.entries(h)) {
      if (typeof v === 'string') out[k.toLowerCase()] = v;
      else if (Array.isArray(v)) out[k.toLowerCase()] = v.join(' '); // repeated signature headers: a list
    }
  return out;
}

/**
 * True when the delivery is signed with `secret` and recent. Pass the body exactly as received (bytes or the
 * undecoded string): re-serialised JSON does not match the signature.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  rawBody: string | Uint8Array,
  opts: VerifyOptions = {},
): boolean {
  const body = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
  return verifyStandardWebhook(
    secret,
    plainHeaders(headers),
    body,
    opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC,
    opts.nowSec ?? Math.floor(Date.now() / 1000),
  );
}

/** Verifies, then parses `{"tune": …}` / `{"prompt": …}`; throws AtelierWebhookError otherwise. */
export function parseWebhook(
  secret: string,
  headers: WebhookHeaders,
  rawBody: string | Uint8Array,
  opts: VerifyOptions = {},
): WebhookEvent {
  if (!verifyWebhook(secret, headers, rawBody, opts))
    throw new AtelierWebhookError('webhook signature or timestamp is not valid');
  const id = plainHeaders(headers)['webhook-id'];
  const body = JSON.parse(typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8'));
  if (body?.prompt && typeof body.prompt === 'object') return { type: 'prompt', prompt: body.prompt, id };
  if (body?.tune && typeof body.tune === 'object') return { type: 'tune', tune: body.tune, id };
  throw new AtelierWebhookError('webhook body is neither {"tune": …} nor {"prompt": …}');
}
