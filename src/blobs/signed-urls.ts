// Signed, expiring image URLs: `/images/<id>/<expires>/<sig>.jpg` for generated images and
// `/tune-images/<id>/<expires>/<sig>.jpg` for training images, `/tune-weights/<id>/<expires>/<sig>.safetensors`
// for a tune's weights file (ckpt_url). The HMAC-SHA256 signature covers id and expiry,
// so the URL works without an API key, cannot be forged or extended, and keeps `/prompts/` and `.json` out of
// the path (CLIENTS.md item 28). Expiry is rounded up to a bucket so repeated polls return the same URL.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The content type tune weights files are served with. */
export const SAFETENSORS_TYPE = 'application/octet-stream';

const EXT: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  [SAFETENSORS_TYPE]: 'safetensors',
};

export function extensionFor(contentType: string): string {
  return EXT[contentType] ?? 'jpg';
}

export type ImageNamespace = 'images' | 'tune-images' | 'tune-weights';

function signature(secret: string, ns: ImageNamespace, id: number, expires: number): string {
  return createHmac('sha256', secret).update(`${ns}:${id}:${expires}`).digest('base64url').slice(0, 32);
}

export interface ImageUrlSigner {
  url(ns: ImageNamespace, id: number, contentType: string, nowMs?: number): string;
  verify(ns: ImageNamespace, id: number, expires: number, sig: string, nowMs?: number): boolean;
}

/** Signatures remembered per image (bench/http-load: an HMAC per image per poll was ~3 % of a GET's CPU). */
const SIGNATURE_CACHE_SIZE = 10_000;

export function createImageUrlSigner(secret: string, baseUrl: string, ttlSec: number): ImageUrlSigner {
  const bucket = Math.min(3600, Math.max(1, Math.floor(ttlSec / 4)));
  // `${ns}:${id}` → the signature for one expiry: recomputed once per image per bucket, oldest dropped when full.
  const signed = new Map<string, { expires: number; sig: string }>();
  const cachedSignature = (ns: ImageNamespace, id: number, expires: number) => {
    const key = `${ns}:${id}`;
    const hit = signed.get(key);
    if (hit?.expires === expires) return hit.sig;
    const sig = signature(secret, ns, id, expires);
    signed.delete(key);
    if (signed.size >= SIGNATURE_CACHE_SIZE) signed.delete(signed.keys().next().value as string);
    signed.set(key, { expires, sig });
    return sig;
  };
  return {
    url(ns, id, contentType, nowMs = Date.now()) {
      const expires = Math.ceil((nowMs / 1000 + ttlSec) / bucket) * bucket;
      return `${baseUrl}/${ns}/${id}/${expires}/${cachedSignature(ns, id, expires)}.${extensionFor(contentType)}`;
    },
    verify(ns, id, expires, sig, nowMs = Date.now()) {
      if (!Number.isSafeInteger(id) || !Number.isSafeInteger(expires) || expires * 1000 < nowMs) return false;
      const want = Buffer.from(signature(secret, ns, id, expires));
      const got = Buffer.from(sig);
      return want.length === got.length && timingSafeEqual(want, got);
    },
  };
}
