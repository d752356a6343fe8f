// End to end on branch sd21: a tiny random SD 2.x-shaped diffusers model (test/helpers/tiny-sd2.ts: gelu text
// encoder, "!" padding, linear-projection UNet with per-level head counts, v_prediction + trailing spacing) is
// registered with `atelier models add` (branch detected from the checkpoint), served by the real SdGenerator on
// a worker thread, and prompts go through the API. The same weights with an epsilon scheduler config give another
// image, so the model's prediction type reaches the sampler.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { type CatalogModel, runModelsCommand, storeModelResolver } from '../../src/cli/models.ts';
import { installedEngines } from '../../src/cli/runtime.ts';
import { readManifest } from '../../src/engine/models-dir.ts';
import type { ModelResolver } from '../../src/engine/sd-generator.ts';
import { SdGenerator } from '../../src/engine/sd-generator.ts';
import { ThreadRunner } from '../../src/engine/thread-runner.ts';
import { FastMockGenerator } from '../../src/jobs/fast-generator.ts';
import { getTune } from '../../src/store/tunes.ts';
import { FastTrainer } from '../../src/train/fast.ts';
import { type Harness, harness, waitFor } from '../api/helpers.ts';
import { writeTinySd2 } from '../helpers/tiny-sd2.ts';

const V_TUNE = 690321;
const EPS_TUNE = 690322;
let h: Harness;
let generator: SdGenerator;
let models: string;

async function add(argv: string[]): Promise<{ rc: number; out: string }> {
  const lines: string[] = [];
  const rc = await runModelsCommand(['add', ...argv], h.config, { out: (l) => lines.push(l) });
  return { rc, out: lines.join('\n') };
}

before(async () => {
  models = mkdtempSync(join(tmpdir(), 'atelier-sd21-'));
  const vpred = writeTinySd2(join(models, 'tiny-sd2'));
  const eps = writeTinySd2(join(models, 'tiny-sd2-eps'), { predictionType: 'epsilon' });
  const runner = new ThreadRunner({
    cacheDir: join(process.cwd(), '.cache', 'graphs'),
    session: { intraOpThreads: 1 },
  });
  let resolver: ModelResolver | undefined;
  const lazy: ModelResolver = {
    baseModel: (t) => (resolver as ModelResolver).baseModel(t),
    loraFile: (id) => (resolver as ModelResolver).loraFile(id),
  };
  generator = new SdGenerator(runner, lazy, { format: 'png' });
  h = await harness(
    { jobLeaseMs: 120_000 },
    { engines: { generators: [new FastMockGenerator(), generator], trainers: [new FastTrainer(50)] } },
  );
  resolver = storeModelResolver({ db: h.rt.svc.db, blobs: h.rt.svc.blobs, dataDir: h.config.dataDir });
  for (const [path, name, tune] of [
    [vpred, 'tiny-sd2', V_TUNE],
    [eps, 'tiny-sd2-eps', EPS_TUNE],
  ] as const) {
    const r = await add([path, '--name', name, '--tune-id', String(tune), '--default-steps', '2']);
    assert.equal(r.rc, 0, r.out);
  }
});

after(async () => {
  await h.close();
  await generator.close();
  rmSync(models, { recursive: true, force: true });
});

test('models add: an SD 2.x checkpoint registers as branch sd21; --branch sd15 is refused naming why', async () => {
  assert.equal(readManifest(h.config.dataDir, 'tiny-sd2')?.branch, 'sd21');
  assert.equal((await getTune(h.rt.svc.db, V_TUNE))?.branch, 'sd21');
  const wrong = await add([join(models, 'tiny-sd2'), '--name', 'mislabelled', '--branch', 'sd15']);
  assert.equal(wrong.rc, 1);
  assert.match(
    wrong.out,
    /is an SD 2\.x \(OpenCLIP text encoder\) model, not sd15; register it as --branch sd21/,
  );
  const unknown = await add([join(models, 'tiny-sd2'), '--name', 'mislabelled', '--branch', 'sdxl1']);
  assert.match(unknown.out, /--branch sdxl1: the engine serves sd15 and sd21 models only/);
  assert.equal(readManifest(h.config.dataDir, 'mislabelled'), undefined);
});

test('installedEngines: an sd21-only install gets the SD generator for sd21 (and no sd15 trainer)', async () => {
  const log = { info: () => {}, warn: () => {}, error: () => {} };
  const engines = await installedEngines(h.config, { db: h.rt.svc.db, blobs: h.rt.svc.blobs }, log);
  try {
    const sd = engines.generators.find((g) => g instanceof SdGenerator) as SdGenerator | undefined;
    assert.ok(sd, 'an SD generator is installed');
    assert.deepEqual(sd.capabilities().branches, ['sd15', 'sd21']);
    assert.ok(!engines.trainers.some((t) => t.capabilities().branches.includes('sd15')));
  } finally {
    for (const g of engines.generators) await (g as { close?: () => Promise<void> }).close?.();
  }
});

async function generate(tune: number, params: Record<string, unknown>): Promise<Buffer> {
  const res = await h.req({
    method: 'POST',
    url: `/tunes/${tune}/prompts`,
    payload: { prompt: { text: 'a photo of an astronaut', w: 64, h: 64, num_images: 1, ...params } },
  });
  assert.equal(res.statusCode, 201, res.body);
  const url = `/prompts/${res.json().id}`;
  const p = await waitFor(
    async () => {
      const r = (await h.req({ method: 'GET', url })).json();
      return ['completed', 'failed', 'cancelled'].includes(r.status) ? r : null;
    },
    `prompt ${url} finished`,
    300_000,
  );
  assert.equal(p.status, 'completed', JSON.stringify(p));
  assert.equal(p.steps, params.steps ?? 2);
  const img = p.images[0];
  const u = new URL(typeof img === 'string' ? img : img.url);
  const got = await h.app.inject({ method: 'GET', url: u.pathname + u.search });
  assert.equal(got.statusCode, 200);
  return got.rawPayload;
}

async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = [await sharp(a).raw().toBuffer(), await sharp(b).raw().toBuffer()];
  assert.equal(x.length, y.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
  return s / x.length;
}

test('sd21 prompts generate: seeded, sized, and the v_prediction config changes the image', async () => {
  const a = await generate(V_TUNE, { seed: 4, cfg_scale: 3 });
  const b = await generate(V_TUNE, { seed: 4, cfg_scale: 3 });
  const meta = await sharp(a).metadata();
  assert.deepEqual([meta.width, meta.height], [64, 64]);
  assert.deepEqual(a, b, 'same seed, same image');
  const other = await generate(V_TUNE, { seed: 5, cfg_scale: 3 });
  assert.ok((await meanAbsDiff(a, other)) > 1, 'another seed, another image');
  const eps = await generate(EPS_TUNE, { seed: 4, cfg_scale: 3 });
  assert.ok((await meanAbsDiff(a, eps)) > 0.5, 'epsilon vs v_prediction of the same weights differ');
  // guidance off (SD-Turbo's way: cfg_scale <= 1) runs too
  await generate(V_TUNE, { seed: 4, cfg_scale: 1, steps: 1 });
});

/** every file under `dir`, relative, with / separators */
function filesOf(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((n) => {
    const r = rel ? `${rel}/${n}` : n;
    return statSync(join(dir, r)).isDirectory() ? filesOf(dir, r) : [r];
  });
}

test('a pulled SD-Turbo-like catalog model (branch sd21) generates with its catalog defaults (euler_a, 1 step)', async () => {
  // a loopback hub serving the tiny SD 2.x folder with git-blob-sha1 ETags, as Hugging Face does for small files
  const src = join(models, 'tiny-sd2-eps');
  const server = createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '').replace(/^\/resolve\//, ''));
    const files = filesOf(src);
    if (!files.includes(rel)) return void res.writeHead(404).end();
    const body = readFileSync(join(src, rel));
    const sha1 = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
    res.writeHead(200, { etag: `"${sha1}"`, 'content-length': String(body.length) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const catalog: CatalogModel[] = [
    {
      name: 'turbo-tiny',
      title: 'Tiny SD-Turbo',
      branch: 'sd21',
      defaultSampler: 'euler_a',
      defaultSteps: 1,
      defaultCfgScale: 0,
      files: filesOf(src).map((p) => ({ path: p, url: `${base}/resolve/${p}`, size: null, sha256: null })),
    },
  ];
  try {
    const lines: string[] = [];
    const rc = await runModelsCommand(['pull', 'turbo-tiny', '--tune-id', '690323'], h.config, {
      catalog,
      out: (l) => lines.push(l),
      progress: () => {},
    });
    assert.equal(rc, 0, lines.join('\n'));
    assert.match(
      lines.join('\n'),
      /tokenizer\/special_tokens_map\.json: git-blob-sha1 from the server's ETag verified/,
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  const generate = async (extra: Record<string, unknown>) => {
    const res = await h.req({
      method: 'POST',
      url: '/tunes/690323/prompts',
      payload: { prompt: { text: 'a cat', w: 64, h: 64, num_images: 1, seed: 1, ...extra } },
    });
    assert.equal(res.statusCode, 201, res.body);
    const url = `/prompts/${res.json().id}`;
    const p = await waitFor(
      async () => {
        const r = (await h.req({ method: 'GET', url })).json();
        return ['completed', 'failed', 'cancelled'].includes(r.status) ? r : null;
      },
      `prompt ${url} finished`,
      300_000,
    );
    assert.equal(p.status, 'completed', JSON.stringify(p));
    const image = await h.app.inject({ method: 'GET', url: new URL(p.images[0].url).pathname });
    return { p, image: image.rawPayload };
  };
  // cfg_scale left blank: the catalog's default (0, no guidance), recorded as what ran
  const blank = await generate({});
  assert.equal(blank.p.steps, 1);
  assert.equal(blank.p.scheduler, 'euler_a');
  assert.equal(blank.p.cfg_scale, 0);
  // any scale <= 1 runs without guidance: the same image as the blank one
  const one = await generate({ cfg_scale: 1 });
  assert.equal(one.p.cfg_scale, 1);
  assert.ok(one.image.equals(blank.image), 'blank cfg_scale = no guidance on this model');
  // an explicit scale is honoured as asked
  const guided = await generate({ cfg_scale: 7 });
  assert.equal(guided.p.cfg_scale, 7);
  assert.ok(!guided.image.equals(blank.image), 'cfg_scale 7 guides');
});

test('a tune of another family cannot take an sd21 base model as its base_tune_id (422 naming both branches)', async () => {
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: {
        title: 'sd15 lora on sd21',
        name: 'man',
        branch: 'sd15',
        base_tune_id: V_TUNE,
        image_urls: ['https://example.com/a.jpg'],
      },
    },
  });
  assert.equal(res.statusCode, 422, res.body);
  assert.match(
    res.json().errors.base_tune_id[0],
    new RegExp(`tune ${V_TUNE} is a sd21 model; a sd15 tune cannot use it as its base`),
  );
});
