// Path traversal: names from the client never choose where bytes are written or read. Multipart file names like
// ../../etc/passwd are ignored (blob keys come from ids), signed image URLs with .. or %2e%2e segments are 404s
// that never read outside the blob root, and the blob store itself refuses keys that would escape it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { LocalBlobStore } from '../../src/blobs/local-blob-store.ts';
import { completedPrompt, type Harness, harness, jpeg, multipart, trainedTune } from '../api/helpers.ts';

let h: Harness;
let imageUrl: string;

before(async () => {
  h = await harness();
  const tune = await trainedTune(h);
  const p = await h.req({
    method: 'POST',
    url: `/tunes/${tune.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 1 } },
  });
  const done = await completedPrompt(h, `/prompts/${p.json().id}`);
  imageUrl = new URL(done.images[0].url ?? done.images[0]).pathname;
});
after(() => h.close());

const blobRoot = () => (h.rt.svc.blobs as LocalBlobStore).root;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)));
}

const HOSTILE_NAMES = [
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '/etc/passwd',
  '....//....//x.jpg',
  '%2e%2e%2f%2e%2e%2fx.jpg',
  'a\u0000.jpg',
  '.jpg',
  `${'a'.repeat(300)}.jpg`,
];

test('multipart file names never reach the file system: stored keys come from ids only', async () => {
  for (const [i, name] of HOSTILE_NAMES.entries()) {
    const body = await multipart([
      ['tune[title]', `trav-${i}`],
      ['tune[name]', 'man'],
      ['tune[branch]', 'fast'],
      ...(await Promise.all(
        [0, 1, 2, 3].map(
          async (): Promise<[string, { data: Buffer; filename: string; type: string }]> => [
            'tune[images][]',
            { data: await jpeg(), filename: name, type: 'image/jpeg' },
          ],
        ),
      )),
    ]);
    const res = await h.req({ method: 'POST', url: '/tunes', ...body });
    assert.ok(res.statusCode < 500, `${name}: ${res.statusCode} ${res.body}`);
  }
  const dataFiles = readdirSync(h.dir, { recursive: true }).map(String);
  for (const f of dataFiles)
    assert.ok(!f.includes('passwd') && !f.includes('win.ini') && !f.includes('..'), f);
  for (const f of filesUnder(blobRoot()))
    assert.match(f, /^(tunes|prompts)\/\d+\/[a-z_]+(\/\d+\.(jpg|png|webp))?$/, f);
  assert.equal(existsSync(join(h.dir, '..', 'etc')), false);
});

test('signed image URLs with .., %2e%2e or encoded slashes are 404, never a file outside the blob root', async () => {
  const [, ns, id, expires, file] = imageUrl.split('/');
  assert.equal((await h.req({ method: 'GET', url: imageUrl, key: null })).statusCode, 200, imageUrl);
  const variants = [
    `/${ns}/${id}/${expires}/..%2f..%2f..%2fetc%2fpasswd`,
    `/${ns}/${id}/${expires}/%2e%2e%2f%2e%2e%2fconfig.json`,
    `/${ns}/${id}/${expires}/../../../../etc/passwd`,
    `/${ns}/${id}/..%2f${expires}/${file}`,
    `/${ns}/../${ns}/${id}/${expires}/${file.replace(/\.\w+$/, '.jpg/..')}`,
    `/${ns}/${id}/${expires}/${file}%00.png`,
    `/${ns}/${id}/${expires}/${file.replace(/^[^.]+/, '..')}`,
    `/${ns}/%2e%2e/${id}/${expires}/${file}`,
  ];
  for (const url of variants) {
    const res = await h.req({ method: 'GET', url, key: null });
    assert.ok([400, 404].includes(res.statusCode), `${url} → ${res.statusCode}`);
    assert.ok(!res.body.includes('root:'), url);
  }
});

test('the local blob store refuses keys that would leave its root', async () => {
  const store = new LocalBlobStore(blobRoot());
  for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a/%2e%2e/x', '..', 'a\\..\\..\\x', 'a/./b', ''])
    await assert.rejects(store.put(key, Buffer.from('x')), /unsafe blob key/, JSON.stringify(key));
});
