// `atelier models pull` with nothing pinned in the catalog: every file is verified against the hash the server
// advertises, the way Hugging Face's resolve endpoint does it. The loopback "hub" answers a weights file with a
// 302 to a second loopback "cdn" origin carrying X-Linked-Etag (sha256) + X-Linked-Size, and a small file
// directly with ETag = its git blob sha1; the cdn answers with an unrelated md5-style ETag that must be ignored.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { advertisedChecksum } from '../../src/cli/model-download.ts';
import { type CatalogModel, runModelsCommand } from '../../src/cli/models.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { type ModelFileRecord, readManifest } from '../../src/engine/models-dir.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const model = (...p: string[]) => fixturePath('sd-reference', 'model', ...p);
const FILES: [string, string][] = [
  ['model_index.json', model('model_index.json')],
  ['scheduler/scheduler_config.json', model('scheduler', 'scheduler_config.json')],
  ['text_encoder/config.json', model('text_encoder', 'config.json')],
  ['text_encoder/model.safetensors', model('text_encoder', 'model.safetensors')],
  ['tokenizer/vocab.json', fixturePath('clip-tokenizer', 'vocab.json')],
  ['tokenizer/merges.txt', fixturePath('clip-tokenizer', 'merges.txt')],
  ['unet/config.json', model('unet', 'config.json')],
  ['unet/diffusion_pytorch_model.safetensors', model('unet', 'diffusion_pytorch_model.safetensors')],
  ['vae/config.json', model('vae', 'config.json')],
  ['vae/diffusion_pytorch_model.safetensors', model('vae', 'diffusion_pytorch_model.safetensors')],
];
const BIG = 'unet/diffusion_pytorch_model.safetensors';
const isLfs = (p: string) => p.endsWith('.safetensors');
const content = new Map(FILES.map(([p, f]) => [p, readFileSync(f)]));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) =>
  createHash('sha1')
    .update(Buffer.concat([Buffer.from(`blob ${b.length}\0`), b]))
    .digest('hex');

/** how the hub advertises hashes: like Hugging Face, wrong ones, or none at all */
let mode: 'hf' | 'wrong' | 'wrong-lfs' | 'none' = 'hf';
/** when set, the next cdn GET of BIG sends only this many bytes and drops the connection */
let cutBigAt: number | null = null;
const bigRanges: string[] = [];

let hub: Server;
let cdn: Server;
let hubBase: string;
let cdnBase: string;
let dir: string;
let config: Config;

function serveRange(req: IncomingMessage, res: ServerResponse, body: Buffer, path: string) {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  if (start >= body.length && range) {
    res.writeHead(416, { 'content-range': `bytes */${body.length}` });
    res.end();
    return;
  }
  res.statusCode = range ? 206 : 200;
  if (range) res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
  res.setHeader('content-length', String(body.length - start));
  if (path === BIG && cutBigAt !== null) {
    const n = cutBigAt;
    cutBigAt = null;
    res.write(body.subarray(start, start + n), () => res.socket?.destroy());
    return;
  }
  res.end(body.subarray(start));
}

before(async () => {
  cdn = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '').replace(/^\/blob\//, ''));
    const body = content.get(path);
    if (!body) return void res.writeHead(404).end();
    if (path === BIG) bigRanges.push(req.headers.range ?? 'none');
    // an S3-style md5 ETag: not a sha256 nor a git sha1, and from the CDN, so never used
    res.setHeader('etag', `"${createHash('md5').update(body).digest('hex')}"`);
    serveRange(req, res, body, path);
  });
  hub = createServer((req, res) => {
    // a renamed repository: Hugging Face answers with a relative redirect to the new name
    if (req.url?.startsWith('/old-name/')) {
      res.writeHead(307, { location: req.url.replace(/^\/old-name\//, '/repo/') }).end();
      return;
    }
    const path = (req.url ?? '').replace(/^\/repo\/resolve\/main\//, '');
    const body = content.get(path);
    if (!body) return void res.writeHead(404).end();
    const flip = (h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1);
    if (isLfs(path)) {
      const h = mode === 'wrong' || mode === 'wrong-lfs' ? flip(sha256(body)) : sha256(body);
      const headers: Record<string, string> = { location: `${cdnBase}/blob/${encodeURIComponent(path)}` };
      if (mode !== 'none') {
        headers['x-linked-etag'] = `"${h}"`;
        headers.etag = `"${h}"`;
        headers['x-linked-size'] = String(body.length);
      }
      res.writeHead(302, headers).end();
      return;
    }
    if (mode !== 'none') res.setHeader('etag', `"${mode === 'wrong' ? flip(gitSha1(body)) : gitSha1(body)}"`);
    serveRange(req, res, body, path);
  });
  for (const s of [hub, cdn]) {
    // the loaded test machine can stall a test past node's 5 s keep-alive; a pooled socket closed by the server
    // meanwhile would surface as a reset
    s.keepAliveTimeout = 120_000;
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  }
  hubBase = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  cdnBase = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
});

beforeEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(join(tmpdir(), 'atelier-pull-verify-'));
  config = loadConfig({ dataDir: dir, logLevel: 'silent' }, {});
  mode = 'hf';
  cutBigAt = null;
  bigRanges.length = 0;
});

after(async () => {
  for (const s of [hub, cdn]) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  rmSync(dir, { recursive: true, force: true });
});

/** nothing pinned, like the real catalog */
const catalog = (repo = 'repo'): CatalogModel[] => [
  {
    name: 'hubbed',
    title: 'Tiny SD from a hub',
    branch: 'sd15',
    files: FILES.map(([p]) => ({
      path: p,
      url: `${hubBase}/${repo}/resolve/main/${p}`,
      size: null,
      sha256: null,
    })),
  },
];

async function pull(...extra: string[]) {
  return pullFrom(catalog(), ...extra);
}

async function pullFrom(cat: CatalogModel[], ...extra: string[]) {
  const lines: string[] = [];
  const rc = await runModelsCommand(['pull', 'hubbed', ...extra], config, {
    catalog: cat,
    out: (l) => lines.push(l),
    progress: () => {},
  });
  return { rc, out: lines.join('\n') };
}

const partOf = (p: string) => join(dir, 'models', 'hubbed', 'files', `${p}.part`);
const fileOf = (p: string) => join(dir, 'models', 'hubbed', 'files', p);

test('advertisedChecksum: X-Linked-Etag before ETag, quotes and W/ dropped, other etags ignored', () => {
  const s = 'a'.repeat(64);
  const g = 'b'.repeat(40);
  assert.deepEqual(advertisedChecksum(new Headers({ 'x-linked-etag': `"${s}"`, etag: `"${g}"` })), {
    algo: 'sha256',
    hex: s,
    source: "the server's X-Linked-Etag",
  });
  assert.equal(advertisedChecksum(new Headers({ etag: `W/"${g.toUpperCase()}"` }))?.algo, 'git-blob-sha1');
  assert.equal(advertisedChecksum(new Headers({ etag: '"5f3e-1a2b"' })), null);
  assert.equal(advertisedChecksum(new Headers({ etag: `"${'c'.repeat(32)}"` })), null); // md5: not a content hash we know
  assert.equal(advertisedChecksum(new Headers({})), null);
});

test('correct advertised hashes: LFS files by the redirect’s X-Linked-Etag, small files by git blob sha1', async () => {
  const r = await pull();
  assert.equal(r.rc, 0, r.out);
  assert.match(
    r.out,
    /unet\/diffusion_pytorch_model\.safetensors: sha256 from the server's X-Linked-Etag verified/,
  );
  assert.match(r.out, /model_index\.json: git-blob-sha1 from the server's ETag verified/);
  const m = readManifest(dir, 'hubbed');
  assert.ok(m);
  for (const [p, f] of FILES) {
    const rec: ModelFileRecord | undefined = m.files.find((x) => x.path === p);
    assert.equal(rec?.sha256, sha256(readFileSync(f)), p);
    assert.equal(
      rec?.verifiedBy,
      isLfs(p) ? "sha256 from the server's X-Linked-Etag" : "git-blob-sha1 from the server's ETag",
    );
    assert.deepEqual(readFileSync(fileOf(p)), readFileSync(f));
  }
});

test('a wrong advertised hash fails closed: part file removed, error names file, expected and got', async () => {
  mode = 'wrong';
  const r = await pull();
  assert.equal(r.rc, 1);
  const body = content.get('model_index.json')!;
  const expected = ((h: string) => (h[0] === '0' ? '1' : '0') + h.slice(1))(gitSha1(body));
  assert.ok(
    r.out.includes(
      `model_index.json: git-blob-sha1 mismatch: expected ${expected} (the server's ETag), got ${gitSha1(body)}; file removed`,
    ),
    r.out,
  );
  assert.equal(existsSync(partOf('model_index.json')), false);
  assert.equal(existsSync(fileOf('model_index.json')), false);
  assert.equal(readManifest(dir, 'hubbed'), undefined);
});

test('a wrong X-Linked-Etag on an LFS file is refused too', async () => {
  mode = 'wrong-lfs'; // the small files verify; the weights' sha256 is wrong
  const r = await pull();
  assert.equal(r.rc, 1);
  assert.match(r.out, /model_index\.json: git-blob-sha1 from the server's ETag verified/);
  assert.match(
    r.out,
    /text_encoder\/model\.safetensors: sha256 mismatch: expected [0-9a-f]{64} \(the server's X-Linked-Etag\), got [0-9a-f]{64}; file removed/,
  );
  assert.equal(existsSync(partOf('text_encoder/model.safetensors')), false);
  assert.equal(readManifest(dir, 'hubbed'), undefined);
});

test('no hash from catalog or server: refused naming --allow-unverified; with it, installed and marked unverified', async () => {
  mode = 'none';
  const refused = await pull();
  assert.equal(refused.rc, 1);
  assert.match(refused.out, /model_index\.json: no checksum to verify it against .*--allow-unverified/);
  assert.equal(readManifest(dir, 'hubbed'), undefined);
  const ok = await pull('--allow-unverified');
  assert.equal(ok.rc, 0, ok.out);
  assert.match(ok.out, /model_index\.json: UNVERIFIED/);
  const m = readManifest(dir, 'hubbed');
  assert.equal(m?.files.find((f) => f.path === BIG)?.verifiedBy, 'unverified');
  assert.equal(await runModelsCommand(['verify', 'hubbed'], config, { out: () => {} }), 0);
});

test('resume: a dropped LFS download resumes from the CDN with a Range request and the whole file is verified', async () => {
  cutBigAt = 1_000_000;
  const first = await pull();
  assert.equal(first.rc, 1);
  assert.match(first.out, /download interrupted/);
  assert.ok(existsSync(partOf(BIG)));
  const second = await pull();
  assert.equal(second.rc, 0, second.out);
  const resumed = Number(/resumed at byte (\d+)/.exec(second.out)?.[1]);
  assert.ok(resumed > 0 && resumed <= 1_000_000, second.out);
  assert.deepEqual(bigRanges, ['none', `bytes=${resumed}-`]);
  assert.match(
    second.out,
    /unet\/diffusion_pytorch_model\.safetensors: sha256 from the server's X-Linked-Etag verified/,
  );
  assert.deepEqual(readFileSync(fileOf(BIG)), content.get(BIG));
});

test('resume: a corrupted partial file is caught by the whole-file hash and removed', async () => {
  cutBigAt = 1_000_000;
  assert.equal((await pull()).rc, 1);
  const part = readFileSync(partOf(BIG));
  part[10] ^= 0xff; // a byte the resume will not download again
  writeFileSync(partOf(BIG), part);
  const r = await pull();
  assert.equal(r.rc, 1);
  assert.match(
    r.out,
    /unet\/diffusion_pytorch_model\.safetensors: sha256 mismatch: expected [0-9a-f]{64} \(the server's X-Linked-Etag\)/,
  );
  assert.equal(existsSync(partOf(BIG)), false);
  // the next pull starts that file over and succeeds
  const again = await pull();
  assert.equal(again.rc, 0, again.out);
  assert.deepEqual(bigRanges.at(-1), 'none');
});

test('a same-host relative redirect (renamed repo) is followed; the hashes still come from the resolve answer', async () => {
  const r = await pullFrom(catalog('old-name'));
  assert.equal(r.rc, 0, r.out);
  assert.match(
    r.out,
    /unet\/diffusion_pytorch_model\.safetensors: sha256 from the server's X-Linked-Etag verified/,
  );
  assert.match(r.out, /model_index\.json: git-blob-sha1 from the server's ETag verified/);
  mode = 'wrong';
  rmSync(join(dir, 'models'), { recursive: true, force: true });
  const bad = await pullFrom(catalog('old-name'));
  assert.equal(bad.rc, 1);
  assert.match(bad.out, /mismatch/);
});

test('416: a part file already whole is verified and installed; one longer than the file is removed', async () => {
  mkdirSync(join(dir, 'models', 'hubbed', 'files', 'unet'), { recursive: true });
  writeFileSync(partOf(BIG), content.get(BIG)!);
  const r = await pull();
  assert.equal(r.rc, 0, r.out);
  assert.deepEqual(bigRanges, [`bytes=${content.get(BIG)!.length}-`]);
  assert.match(
    r.out,
    /unet\/diffusion_pytorch_model\.safetensors: sha256 from the server's X-Linked-Etag verified/,
  );
  rmSync(join(dir, 'models'), { recursive: true, force: true });
  mkdirSync(join(dir, 'models', 'hubbed', 'files', 'unet'), { recursive: true });
  writeFileSync(partOf(BIG), Buffer.concat([content.get(BIG)!, Buffer.from('extra')]));
  const long = await pull();
  assert.equal(long.rc, 1);
  assert.match(long.out, /no bytes past the \d+ already downloaded \(removed; run pull again\)/);
  assert.equal(existsSync(partOf(BIG)), false);
});

test('an HTTP error is reported as such, before any checksum question', async () => {
  mode = 'none';
  const cat = catalog();
  cat[0].files[0] = { ...cat[0].files[0], url: `${hubBase}/repo/resolve/main/missing.json` };
  const r = await pullFrom(cat);
  assert.equal(r.rc, 1);
  assert.match(r.out, /missing\.json: HTTP 404/);
});
