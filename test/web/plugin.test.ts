// The dashboard plugin on the real app: index and assets served without auth, with caching and CSP headers,
// while the API's own routes keep their behaviour.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureDashboardBuilt, readManifest } from '../../web/build.ts';
import { dashboardPlugin } from '../../web/plugin.ts';
import { type Harness, harness } from '../api/helpers.ts';

let h: Harness;
before(async () => {
  h = await harness({ uploadMaxFileBytes: 123_456, uploadMaxFiles: 21 });
  await h.app.register(dashboardPlugin, { config: h.config });
});
after(() => h.close());

const get = (url: string) => h.req({ method: 'GET', url, key: null });

test('the index page: no-cache, strict CSP, only external scripts and styles', async () => {
  for (const url of ['/', '/ui/tunes', '/ui/gallery?prompt=3', '/ui']) {
    const res = await get(url);
    assert.equal(res.statusCode, 200, url);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, new RegExp(`img-src [^;]*${h.config.publicBaseUrl.replace(/\./g, '\\.')}`));
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    // no inline code: every <script> has a src, no <style> element, no style="" or on*="" attribute
    assert.doesNotMatch(res.body, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(res.body, /<style|\sstyle=|\son[a-z]+=/i);
  }
});

test('the index revalidates with its ETag: 304 while unchanged', async () => {
  const first = await get('/');
  const etag = String(first.headers.etag);
  assert.match(etag, /^"[\w-]+"$/);
  const again = await h.req({
    method: 'GET',
    url: '/ui/tunes',
    key: null,
    headers: { 'if-none-match': etag },
  });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
  assert.equal(again.headers['cache-control'], 'no-cache');
  const other = await h.req({
    method: 'GET',
    url: '/',
    key: null,
    headers: { 'if-none-match': '"something-else"' },
  });
  assert.equal(other.statusCode, 200);
});

test('the page carries the server upload limits for the client-side checks', async () => {
  const res = await get('/');
  const m = /<meta name="atelier-limits" content="([^"]+)"/.exec(res.body);
  assert.ok(m, 'limits meta missing');
  assert.deepEqual(JSON.parse(m[1].replace(/&quot;/g, '"')), { maxFileBytes: 123_456, maxFiles: 21 });
});

test('every asset the index names is served, hashed names immutable', async () => {
  const index = (await get('/')).body;
  const refs = [...index.matchAll(/(?:src|href|content)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length >= 4, `expected js, css and two schemas, got ${refs.join(', ')}`);
  for (const ref of refs) {
    const res = await get(ref);
    assert.equal(res.statusCode, 200, ref);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.ok(res.headers['content-security-policy']);
    assert.match(ref, /-[A-Z0-9]{8,}\.(js|css|json)$/, `not a hashed name: ${ref}`);
    if (ref.endsWith('.js')) assert.match(String(res.headers['content-type']), /^text\/javascript/);
    if (ref.endsWith('.css')) assert.match(String(res.headers['content-type']), /^text\/css/);
    if (ref.endsWith('.json')) assert.equal(JSON.parse(res.body).type, 'object');
  }
});

test('unknown or traversing asset paths are 404', async () => {
  for (const url of [
    '/assets/app-NOPE.js',
    '/assets/..%2fpackage.json',
    '/assets/../package.json',
    '/assets/',
  ]) {
    const res = await get(url);
    assert.equal(res.statusCode, 404, url);
    assert.doesNotMatch(res.body, /"name":\s*"atelier"/);
  }
});

test('API routes keep precedence and their auth', async () => {
  assert.equal((await get('/tunes')).statusCode, 401);
  const res = await h.req({ method: 'GET', url: '/tunes' });
  assert.equal(res.statusCode, 200);
  assert.ok(Array.isArray(res.json()));
  assert.equal((await get('/healthz')).statusCode, 200);
});

test('a stale build (sources changed since) is rebuilt; a current one is reused', async () => {
  const dist = mkdtempSync(join(tmpdir(), 'atelier-dist-'));
  try {
    const first = await ensureDashboardBuilt(dist);
    const again = await ensureDashboardBuilt(dist);
    assert.equal(again.builtAt, first.builtAt, 'a current build must not be redone');
    const manifestPath = join(dist, 'manifest.json');
    writeFileSync(manifestPath, JSON.stringify({ ...first, sourceHash: 'older-sources' }));
    const rebuilt = await ensureDashboardBuilt(dist);
    assert.equal(rebuilt.sourceHash, first.sourceHash);
    assert.equal(readManifest(dist)?.sourceHash, first.sourceHash);
    assert.match(readFileSync(join(dist, 'index.html'), 'utf8'), new RegExp(rebuilt.assets.js));
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
});
