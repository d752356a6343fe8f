// One catalog file onto disk, verified: `atelier models pull` (src/cli/models.ts) calls downloadFile per file.
//
// The expected content hash is the catalog's pinned sha256 when there is one, otherwise what the server
// advertises. Hugging Face's resolve endpoint (the catalog's URLs) answers an LFS file with a redirect to its
// CDN carrying `X-Linked-Etag` (and `ETag`): the file's sha256, and `X-Linked-Size`; a small git-stored file is
// served directly with `ETag` = its git blob sha1, sha1("blob <bytes>\0" + content). This is how
// huggingface_hub's file_download learns the etag (relative redirects followed, the CDN redirect not), see
// https://github.com/huggingface/huggingface_hub/blob/main/src/huggingface_hub/file_download.py
// The hash headers are read from the first response that is not a same-host redirect; the CDN's own ETag
// (an S3 md5 or the like) is never used. The whole file is hashed after the download, resumed or not, and a
// mismatch removes it. With no hash from either side the pull is refused unless unverified files are allowed.

import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ModelFileRecord } from '../engine/models-dir.ts';

export interface CatalogFile {
  /** where it goes inside the model folder's files/ */
  path: string;
  url: string;
  /** null: not pinned; the server's X-Linked-Size or Content-Length is checked instead */
  size: number | null;
  /** null: not pinned; the hash the server advertises is checked instead */
  sha256: string | null;
}

export interface DownloadDeps {
  /** progress bar output (default: stderr) */
  progress?: (text: string) => void;
  fetch?: typeof fetch;
  /** install a file although neither the catalog nor the server gives its hash (`--allow-unverified`) */
  allowUnverified?: boolean;
}

export class OfflineError extends Error {
  override name = 'OfflineError';
}

/** An expected content hash and who stated it. */
export interface Checksum {
  /** sha256 of the bytes, or git's blob sha1 (sha1 of "blob <size>\0" + bytes) */
  algo: 'sha256' | 'git-blob-sha1';
  hex: string;
  /** e.g. "the catalog", "the server's X-Linked-Etag" */
  source: string;
}

const HASH_HEADERS = [
  ['x-linked-etag', 'X-Linked-Etag'],
  ['etag', 'ETag'],
] as const;

/** The content hash a response advertises (X-Linked-Etag, then ETag), or null when neither holds one. */
export function advertisedChecksum(headers: Headers): Checksum | null {
  for (const [name, label] of HASH_HEADERS) {
    const raw = headers.get(name);
    if (!raw) continue;
    // huggingface_hub normalises the same way: drop a weak-validator prefix and the quotes
    const v = raw
      .trim()
      .replace(/^W\//, '')
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (/^[0-9a-f]{64}$/.test(v)) return { algo: 'sha256', hex: v, source: `the server's ${label}` };
    if (/^[0-9a-f]{40}$/.test(v)) return { algo: 'git-blob-sha1', hex: v, source: `the server's ${label}` };
  }
  return null;
}

/** sha256 and git blob sha1 of a file, in one pass. */
export async function hashFile(path: string): Promise<{ sha256: string; gitBlobSha1: string }> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1').update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path)) {
    sha256.update(chunk as Buffer);
    sha1.update(chunk as Buffer);
  }
  return { sha256: sha256.digest('hex'), gitBlobSha1: sha1.digest('hex') };
}

function bar(name: string, done: number, total: number | null): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  if (!total) return `\r${name} ${mb(done)} MB`;
  const width = 30;
  const filled = Math.min(width, Math.round((done / total) * width));
  const pct = Math.floor((done / total) * 100);
  return `\r${name} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${mb(done)}/${mb(total)} MB`;
}

/** Errors of a connection that never came up: the host is unreachable from here. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function requestFailed(url: string, e: unknown): Error {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  if (!cause?.code || !UNREACHABLE.has(cause.code))
    return new Error(
      `request to ${host} failed (${cause?.code ?? cause?.message ?? (e as Error).message}); run pull again to resume`,
    );
  return new OfflineError(
    `cannot reach ${host} (${cause?.code ?? cause?.message ?? (e as Error).message}); this machine looks offline. ` +
      'Copy the model files here by other means and register them with `atelier models add <path>`.',
  );
}

const MAX_REDIRECTS = 10;

/**
 * GETs `url` following redirects by hand, so the headers of the resolve endpoint's own answer (the first
 * response that is not a same-host redirect) are kept: that is where the hash headers are.
 */
async function openUrl(
  url: string,
  headers: Record<string, string>,
  doFetch: typeof fetch,
): Promise<{ res: Response; meta: Headers }> {
  const origin = new URL(url).origin;
  let meta: Headers | null = null;
  let at = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let res: Response;
    try {
      res = await doFetch(at, { headers, redirect: 'manual' });
    } catch (e) {
      throw requestFailed(at, e);
    }
    const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null;
    if (!location) return { res, meta: meta ?? res.headers };
    await res.body?.cancel();
    const next = new URL(location, at);
    if (meta === null && next.origin !== origin) meta = res.headers;
    at = next.href;
  }
  throw new Error(`${url}: more than ${MAX_REDIRECTS} redirects`);
}

function positiveInt(v: string | null): number | null {
  const n = Number(v ?? Number.NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export interface DownloadResult extends ModelFileRecord {
  /** byte offset the download resumed at (0: from the start) */
  resumedFrom: number;
}

/**
 * Downloads one file to `dest`, resuming `dest.part` with a Range request; checks its size and hash (pinned,
 * else advertised) over the whole file before renaming it into place; a mismatch removes the part file.
 */
export async function downloadFile(
  file: CatalogFile,
  dest: string,
  deps: DownloadDeps = {},
): Promise<DownloadResult> {
  const doFetch = deps.fetch ?? fetch;
  const progress = deps.progress ?? ((t: string) => process.stderr.write(t));
  const part = `${dest}.part`;
  mkdirSync(dirname(dest), { recursive: true });
  let have = existsSync(part) ? statSync(part).size : 0;
  const { res, meta } = await openUrl(file.url, have > 0 ? { range: `bytes=${have}-` } : {}, doFetch);
  if (res.status !== 200 && res.status !== 206 && res.status !== 416) {
    await res.body?.cancel();
    throw new Error(`${file.url}: HTTP ${res.status}`);
  }
  const expected: Checksum | null = file.sha256
    ? { algo: 'sha256', hex: file.sha256.toLowerCase(), source: 'the catalog' }
    : advertisedChecksum(meta);
  if (!expected && !deps.allowUnverified) {
    await res.body?.cancel();
    throw new Error(
      `${file.path}: no checksum to verify it against (the catalog pins none and ${file.url} sent no ` +
        'X-Linked-Etag or ETag holding a sha256 or git blob sha1); refusing to install it unverified. ' +
        'Pass --allow-unverified to install it anyway.',
    );
  }
  let expectedSize = file.size ?? positiveInt(meta.get('x-linked-size'));
  const resumedFrom = res.status === 206 ? have : 0;
  if (res.status === 416) {
    // nothing past `have`: complete if the server's total says so, else the part file is longer than the file
    await res.body?.cancel();
    expectedSize ??= positiveInt(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? null);
    if (expectedSize === null || have !== expectedSize) {
      rmSync(part, { force: true });
      throw new Error(
        `${file.path}: the server has no bytes past the ${have} already downloaded (removed; run pull again)`,
      );
    }
  } else {
    if (res.status === 200) have = 0; // the server ignored the range: start over
    const length = positiveInt(res.headers.get('content-length'));
    expectedSize ??= length === null ? null : have + length;
    let done = have;
    const body = res.body
      ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream)
      : Readable.from([]);
    body.on('data', (c: Buffer) => {
      done += c.length;
      progress(bar(file.path, done, expectedSize));
    });
    try {
      await pipeline(body, createWriteStream(part, { flags: have > 0 ? 'a' : 'w' }));
    } catch (e) {
      throw new Error(
        `${file.path}: download interrupted at ${done} bytes (run pull again to resume): ${(e as Error).message}`,
      );
    }
    progress('\n');
  }
  const size = statSync(part).size;
  if (expectedSize !== null && size !== expectedSize) {
    if (size > expectedSize) rmSync(part);
    throw new Error(
      `${file.path}: got ${size} bytes, expected ${expectedSize}${size > expectedSize ? ' (removed)' : ' (run pull again to resume)'}`,
    );
  }
  const hashes = await hashFile(part);
  if (expected) {
    const got = expected.algo === 'sha256' ? hashes.sha256 : hashes.gitBlobSha1;
    if (got !== expected.hex) {
      rmSync(part);
      throw new Error(
        `${file.path}: ${expected.algo} mismatch: expected ${expected.hex} (${expected.source}), got ${got}; file removed`,
      );
    }
  }
  renameSync(part, dest);
  return {
    path: file.path,
    size,
    sha256: hashes.sha256,
    verifiedBy: expected ? `${expected.algo} from ${expected.source}` : 'unverified',
    resumedFrom,
  };
}
