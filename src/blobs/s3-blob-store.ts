// Blob store on any S3-compatible service (AWS S3, MinIO, Ceph RGW, R2, s3rver in the tests), for deployments whose
// API servers and workers share no disk. Requests are signed with AWS Signature V4 by aws4fetch; addressing is
// path-style (`<endpoint>/<bucket>/<key>`), which every S3-compatible server accepts.
import { createHash } from 'node:crypto';
import { AwsClient } from 'aws4fetch';
import { assertSafeKey, type BlobStore } from './blob-store.ts';

export interface S3BlobStoreOptions {
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000 */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Optional key prefix inside the bucket, e.g. `atelier` (no slashes at either end). */
  prefix?: string;
  /** Keys listed and deleted per round of deletePrefix (S3's maximum, 1000, by default). */
  pageSize?: number;
}

// DeleteObjects takes at most 1000 keys per request (S3 API reference, DeleteObjects).
const DELETE_BATCH = 1000;

const xmlText = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export class S3BlobStore implements BlobStore {
  private readonly client: AwsClient;
  private readonly base: string;
  private readonly prefix: string;
  private readonly pageSize: number;

  constructor(opts: S3BlobStoreOptions) {
    this.client = new AwsClient({
      accessKeyId: opts.accessKeyId,
      secretAccessKey: opts.secretAccessKey,
      region: opts.region,
      service: 's3',
    });
    this.base = `${opts.endpoint.replace(/\/+$/, '')}/${encodeURIComponent(opts.bucket)}`;
    this.pageSize = Math.min(DELETE_BATCH, opts.pageSize ?? DELETE_BATCH);
    this.prefix = opts.prefix ? `${opts.prefix.replace(/^\/+|\/+$/g, '')}/` : '';
  }

  private url(key: string): string {
    assertSafeKey(key); // the safe-key alphabet needs no percent-encoding
    return `${this.base}/${this.prefix}${key}`;
  }

  private async send(url: string, init: RequestInit, ok: (status: number) => boolean): Promise<Response> {
    const res = await this.client.fetch(url, init);
    if (!ok(res.status)) {
      const body = await res.text().catch(() => '');
      throw new Error(`S3 ${init.method ?? 'GET'} ${url} → ${res.status}: ${body.slice(0, 300)}`);
    }
    return res;
  }

  async put(key: string, data: Buffer): Promise<void> {
    // A PUT replaces the object atomically: a reader sees the old or the new bytes, never half of them.
    const res = await this.send(
      this.url(key),
      { method: 'PUT', body: new Uint8Array(data) },
      (s) => s === 200,
    );
    await res.arrayBuffer();
  }

  async get(key: string): Promise<Buffer | undefined> {
    const res = await this.send(this.url(key), { method: 'GET' }, (s) => s === 200 || s === 404);
    if (res.status === 404) {
      await res.arrayBuffer();
      return undefined;
    }
    return Buffer.from(await res.arrayBuffer());
  }

  async delete(key: string): Promise<void> {
    const res = await this.send(
      this.url(key),
      { method: 'DELETE' },
      (s) => s === 204 || s === 200 || s === 404,
    );
    await res.arrayBuffer();
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertSafeKey(prefix);
    const full = `${this.prefix}${prefix}/`;
    for (;;) {
      // Always list from the start: each round deletes what it listed, so the next list begins after it.
      const keys = await this.list(full, this.pageSize);
      if (!keys.length) return;
      await this.deleteMany(keys);
    }
  }

  /**
   * The first page of full keys under `prefix`. ListObjects (V1) rather than V2: deletePrefix never pages with
   * continuation tokens (it lists from the start after each delete), and every S3-compatible server has V1.
   */
  private async list(prefix: string, max: number): Promise<string[]> {
    const q = new URLSearchParams({ prefix, 'max-keys': String(max) });
    const res = await this.send(`${this.base}?${q}`, { method: 'GET' }, (s) => s === 200);
    const xml = await res.text();
    return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => xmlText(m[1]!));
  }

  private async deleteMany(fullKeys: string[]): Promise<void> {
    const body = `<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>${fullKeys
      .map((k) => `<Object><Key>${xmlEscape(k)}</Key></Object>`)
      .join('')}</Delete>`;
    // S3 requires Content-MD5 on multi-object delete (S3 API reference, DeleteObjects).
    const md5 = createHash('md5').update(body).digest('base64');
    const res = await this.send(
      `${this.base}?delete`,
      { method: 'POST', body, headers: { 'content-md5': md5, 'content-type': 'application/xml' } },
      (s) => s === 200,
    );
    const xml = await res.text();
    if (/<Error>/.test(xml))
      throw new Error(`S3 delete of ${fullKeys.length} keys reported errors: ${xml.slice(0, 300)}`);
  }
}

/** The S3 settings of the configuration (ATELIER_S3_*), or an error naming what is missing. */
export function s3OptionsFromConfig(c: {
  s3Endpoint?: string;
  s3Bucket?: string;
  s3Region: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3Prefix?: string;
}): S3BlobStoreOptions {
  const missing = [
    ['ATELIER_S3_ENDPOINT', c.s3Endpoint],
    ['ATELIER_S3_BUCKET', c.s3Bucket],
    ['ATELIER_S3_ACCESS_KEY_ID', c.s3AccessKeyId],
    ['ATELIER_S3_SECRET_ACCESS_KEY', c.s3SecretAccessKey],
  ]
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (missing.length) throw new Error(`ATELIER_BLOBS=s3 needs ${missing.join(', ')}`);
  return {
    endpoint: c.s3Endpoint!,
    bucket: c.s3Bucket!,
    region: c.s3Region,
    accessKeyId: c.s3AccessKeyId!,
    secretAccessKey: c.s3SecretAccessKey!,
    ...(c.s3Prefix && { prefix: c.s3Prefix }),
  };
}
