// `atelier models pull|add|list|verify` against a loopback HTTP server serving the tiny fixture model:
// resume after a dropped connection (HTTP Range), checksum refusal, offline error, verify, base-model tunes.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CatalogModel, runModelsCommand } from '../../src/cli/models.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { readManifest } from '../../src/engine/models-dir.ts';
import { openDatabase } from '../../src/store/db.ts';
import { getTune } from '../../src/store/tunes.ts';
import { fixturePath } from '../helpers/fixtures.ts';

const FILES: [string, string][] = [
  ['model_index.json', fixturePath('sd-reference', 'model', 'model_index.json')],
  [
    'scheduler/scheduler_config.json',
    fixturePath('sd-reference', 'model', 'scheduler', 'scheduler_config.json'),
  ],
  ['text_encoder/config.json', fixturePath('sd-reference', 'model', 'text_encoder', 'config.json')],
  [
    'text_encoder/model.safetensors',
    fixturePath('sd-reference', 'model', 'text_encoder', 'model.safetensors'),
  ],
  ['tokenizer/vocab.json', fixturePath('clip-tokenizer', 'vocab.json')],
  ['tokenizer/merges.txt', fixturePath('clip-tokenizer', 'merges.txt')],
  ['unet/config.json', fixturePath('sd-reference', 'model', 'unet', 'config.json')],
  [
    'unet/diffusion_pytorch_model.safetensors',
    fixturePath('sd-reference', 'model', 'unet', 'diffusion_pytorch_model.safetensors'),
  ],
  ['vae/config.json', fixturePath('sd-reference', 'model', 'vae', 'config.json')],
  [
    'vae/diffusion_pytorch_model.safetensors',
    fixturePath('sd-reference', 'model', 'vae', 'diffusion_pytorch_model.safetensors'),
  ],
];
const BIG = 'unet/diffusion_pytorch_model.safetensors';

let server: Server;
let base: string;
let dir: string;
let config: Config;
/** when set, the next GET of BIG sends only this many bytes and drops the connection */
let cutBigAt: number | null = null;
const ranges: string[] = [];

before(async () => {
  const byPath = new Map(FILES.map(([p, f]) => [`/m/${p}`, readFileSync(f)]));
  server = createServer((req, res) => {
    const body = byPath.get(req.url ?? '');
    if (!body) {
      res.statusCode = 404;
      res.end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (req.url === `/m/${BIG}`) ranges.push(req.headers.range ?? 'none');
    const start = range ? Number(range[1]) : 0;
    res.statusCode = range ? 206 : 200;
    if (range) res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    res.setHeader('content-length', String(body.length - start));
    if (req.url === `/m/${BIG}` && cutBigAt !== null) {
      const n = cutBigAt;
      cutBigAt = null;
      res.write(body.subarray(start, start + n), () => res.socket?.destroy());
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'atelier-models-'));
  config = loadConfig({ dataDir: dir, logLevel: 'silent' }, {});
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

function catalog(overrides: Partial<Record<string, { sha256?: string }>> = {}, host = base): CatalogModel[] {
  return [
    {
      name: 'tiny',
      title: 'Tiny SD',
      branch: 'sd15',
      defaultSampler: 'euler',
      files: FILES.map(([p, f]) => ({
        path: p,
        url: `${host}/m/${p}`,
        size: readFileSync(f).length,
        sha256: overrides[p]?.sha256 ?? sha(f),
      })),
    },
  ];
}

async function run(argv: string[], cat = catalog()) {
  const lines: string[] = [];
  const progress: string[] = [];
  const rc = await runModelsCommand(argv, config, {
    catalog: cat,
    out: (l) => lines.push(l),
    progress: (t) => progress.push(t),
  });
  return { rc, out: lines.join('\n'), progress: progress.join('') };
}

test('offline: a clear error naming the host and the way out, nothing installed', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const r = await run(['pull', 'tiny'], catalog({}, `http://127.0.0.1:${port}`));
  assert.equal(r.rc, 1);
  assert.match(r.out, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}.*offline.*models add`));
  assert.equal(readManifest(dir, 'tiny'), undefined);
});

test('a checksum mismatch is refused and the bad file removed', async () => {
  const r = await run(['pull', 'tiny'], catalog({ 'model_index.json': { sha256: '0'.repeat(64) } }));
  assert.equal(r.rc, 1);
  assert.match(
    r.out,
    /model_index\.json: sha256 mismatch: expected 0{64} \(the catalog\), got [0-9a-f]{64}; file removed/,
  );
  assert.equal(existsSync(join(dir, 'models', 'tiny', 'files', 'model_index.json')), false);
  assert.equal(readManifest(dir, 'tiny'), undefined);
});

test('pull: a dropped download resumes with a Range request, then installs and registers tune 690204', async () => {
  cutBigAt = 1_000_000;
  const first = await run(['pull', 'tiny', '--tune-id', '690204']);
  assert.equal(first.rc, 1);
  assert.match(first.out, /download interrupted/);
  assert.equal(readManifest(dir, 'tiny'), undefined);
  const second = await run(['pull', 'tiny', '--tune-id', '690204']);
  assert.equal(second.rc, 0, second.out);
  // how much of the first response arrived before the drop depends on the socket; the resume starts right there
  const resumed = Number(/resumed at byte (\d+)/.exec(second.out)?.[1]);
  assert.ok(resumed > 0 && resumed <= 1_000_000, second.out);
  assert.deepEqual(ranges, ['none', `bytes=${resumed}-`]);
  assert.match(second.progress, /\[#+\] 100% /);
  const m = readManifest(dir, 'tiny');
  assert.ok(m);
  assert.equal(m.tuneId, 690204);
  assert.equal(m.files.find((f) => f.path === BIG)?.sha256, sha(FILES.find(([p]) => p === BIG)![1]));
  const db = await openDatabase(config.databaseFile);
  try {
    const t = await getTune(db, 690204);
    assert.equal(t?.account_id, null);
    assert.equal(t?.status, 'trained');
    assert.equal(JSON.parse(t!.args).base_model, 'tiny');
  } finally {
    await db.destroy();
  }
  const list = await run(['list']);
  assert.match(list.out, /tiny\tsd15\t690204\tpull tiny/);
});

test('verify: ok when intact, FAILED naming the file when it changed', async () => {
  assert.equal((await run(['verify'])).rc, 0);
  const f = join(dir, 'models', 'tiny', 'files', 'vae', 'config.json');
  const orig = readFileSync(f);
  writeFileSync(f, Buffer.from(orig.toString('utf8').replace('"', ' ')));
  const bad = await run(['verify', 'tiny']);
  assert.equal(bad.rc, 1);
  assert.match(bad.out, /tiny: FAILED: vae\/config\.json/);
  writeFileSync(f, orig);
});

test('add: registers a local checkpoint in place; refuses one without a tokenizer; a second add keeps its tune', async () => {
  const noTok = await run(['add', fixturePath('sd-reference', 'model'), '--name', 'local']);
  assert.equal(noTok.rc, 1);
  assert.match(noTok.out, /no CLIP vocabulary/);
  const ok = await run([
    'add',
    fixturePath('sd-reference', 'checkpoint', 'tiny-sd15-public.safetensors'),
    '--name',
    'single',
    '--tokenizer',
    fixturePath('clip-tokenizer'),
  ]);
  assert.equal(ok.rc, 0, ok.out);
  const m = readManifest(dir, 'single');
  assert.equal(m?.source.kind, 'add');
  assert.ok(m?.tuneId && m.tuneId !== 690204);
  // adding the same model again keeps its tune
  const again = await run([
    'add',
    fixturePath('sd-reference', 'checkpoint', 'tiny-sd15-public.safetensors'),
    '--name',
    'single',
    '--tokenizer',
    fixturePath('clip-tokenizer'),
  ]);
  assert.equal(readManifest(dir, 'single')?.tuneId, m?.tuneId, again.out);
});
