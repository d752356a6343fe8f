// Images as clients send them: multipart files, base64 data URLs (seed §7), plain http(s) URLs, or URL text sent
// as a file part (CLIENTS.md item 9). Every byte buffer goes through the shared image intake.
import type { UploadedFile } from '../api/body/brackets.ts';
import {
  ImageRejectedError,
  type IntakeLimits,
  type NormalizedImage,
  normalizeImage,
} from '../blobs/image-intake.ts';
import { AppError, validationError } from './errors.ts';

export function isUploadedFile(v: unknown): v is UploadedFile {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as UploadedFile).kind === 'file' &&
    Buffer.isBuffer((v as UploadedFile).data)
  );
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(;[\w=.+-]+)*;base64,/i;

/** Bytes of a base64 data URL (or of bare base64), or null when the string is not one. */
export function decodeDataUrl(s: string): Buffer | null {
  const m = DATA_URL.exec(s);
  const b64 = m ? s.slice(m[0].length) : s;
  if (!m && (s.length < 64 || !/^[A-Za-z0-9+/=\s]+$/.test(s))) return null;
  const buf = Buffer.from(b64.replace(/\s+/g, ''), 'base64');
  return buf.length ? buf : m ? Buffer.alloc(0) : null;
}

export interface ImageSources {
  buffers: { field: string; data: Buffer }[];
  urls: string[];
  /** the request field each entry of `urls` came from (`images.2`, `image_urls.0`), for 422s that name it */
  urlFields: string[];
}

const asList = (v: unknown): unknown[] =>
  v === undefined || v === null || v === '' ? [] : Array.isArray(v) ? v : [v];

/** `image_urls` entries sent as file parts carry the URL as their body (CLIENTS.md item 9): read them as text. */
export function imageUrlsAsText(v: unknown): unknown {
  const text = (x: unknown) => (isUploadedFile(x) ? x.data.toString('utf8').trim() : x);
  return Array.isArray(v) ? v.map(text) : text(v);
}

/** Split `images` / `image_urls` entries into raw bytes to check now and URLs to download later. */
export function collectImageSources(images: unknown, imageUrls: unknown): ImageSources {
  const out: ImageSources = { buffers: [], urls: [], urlFields: [] };
  const errors: Record<string, string[]> = {};
  asList(images).forEach((v, i) => {
    const field = `images.${i}`;
    if (isUploadedFile(v)) out.buffers.push({ field, data: v.data });
    else if (typeof v === 'string' && /^https?:\/\//i.test(v)) {
      out.urls.push(v);
      out.urlFields.push(field);
    } else if (typeof v === 'string' && decodeDataUrl(v))
      out.buffers.push({ field, data: decodeDataUrl(v)! });
    else if (v !== '')
      (errors[field] ??= []).push('must be an image file, a base64 data URL or an http(s) URL');
  });
  asList(imageUrls).forEach((v, i) => {
    const s = (isUploadedFile(v) ? v.data.toString('utf8') : String(v)).trim();
    if (s === '') return;
    if (/^https?:\/\//i.test(s) && URL.canParse(s)) {
      out.urls.push(s);
      out.urlFields.push(`image_urls.${i}`);
    } else (errors[`image_urls.${i}`] ??= []).push('must be an http(s) URL');
  });
  if (Object.keys(errors).length) throw validationError(errors);
  return out;
}

/** normalizeImage with the rejection turned into an API error that names the field. */
export async function intakeImage(
  field: string,
  data: Buffer,
  limits: IntakeLimits,
): Promise<NormalizedImage> {
  try {
    return await normalizeImage(data, limits);
  } catch (e) {
    if (e instanceof ImageRejectedError) {
      const msg = `${field}: ${e.message}`;
      if (e.status === 413) throw new AppError('payload_too_large', msg);
      if (e.status === 415) throw new AppError('unsupported_media_type', msg);
      throw validationError({ [field]: [e.message] });
    }
    throw e;
  }
}

export async function intakeAll(
  items: { field: string; data: Buffer }[],
  limits: IntakeLimits,
): Promise<NormalizedImage[]> {
  const out: NormalizedImage[] = [];
  for (const it of items) out.push(await intakeImage(it.field, it.data, limits)); // sequential: bounded memory
  return out;
}
