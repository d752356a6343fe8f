// End to end through the API: the tiny fixture model as base tune 690205, the real SdGenerator on a worker thread,
// and tiny random-weight IP-Adapters (ipadapter, reference, composition, FaceID), CLIP image encoder and ArcFace
// installed by the test in a temporary models dir. Prompts with controlnet=<adapter type> use the input image as
// the image prompt; a faceid tune is ready at creation from real face photos and `<faceid:ID:w>` steers prompts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { TuneInputError } from '../../src/domain/instant-tunes.ts';
import { readFaceIdEmbeddings } from '../../src/engine/adapter-request.ts';
import { openCheckpoint } from '../../src/engine/checkpoint/open.ts';
import { detectUnetConfig } from '../../src/engine/models/unet.ts';
import { arcfacePath } from '../../src/post/faces/embedding.ts';
import { nowIso } from '../../src/store/db.ts';
import { insertTune, listTuneImages } from '../../src/store/tunes.ts';
import { FaceIdTrainer } from '../../src/train/faceid.ts';
import type { Harness } from '../api/helpers.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import { finishedPrompt, type SdHarness, sdHarness } from '../helpers/sd-harness.ts';
import { writeTinyArcface } from '../helpers/tiny-arcface.ts';
import { writeTinyAdapter, writeTinyImageEncoder } from '../helpers/tiny-ip-adapter.ts';
import { samplePhotoPath } from '../unit/post/faces/images.ts';

const BASE_TUNE = 690205;
let sd: SdHarness;
let h: Harness;
let modelsDir: string;

before(async () => {
  modelsDir = mkdtempSync(join(tmpdir(), 'atelier-e2e-ip-'));
  const ck = openCheckpoint(fixturePath('sd-reference', 'model'));
  const unet = detectUnetConfig(ck.unet?.source as NonNullable<typeof ck.unet>['source']);
  ck.close();
  writeTinyImageEncoder(modelsDir);
  for (const k of ['ipadapter', 'reference', 'composition', 'faceid'] as const)
    writeTinyAdapter(modelsDir, k, unet);
  writeTinyArcface(arcfacePath(modelsDir));
  sd = await sdHarness({
    baseTune: BASE_TUNE,
    name: 'tiny-sd15-ip',
    defaultSteps: 2,
    modelsDir,
    trainers: [new FaceIdTrainer({ modelsDir })],
  });
  h = sd.h;
});

after(async () => {
  await sd.close();
  rmSync(modelsDir, { recursive: true, force: true });
});

const finished = (url: string) => finishedPrompt(h, url);

async function generate(params: Record<string, unknown>, tune = BASE_TUNE): Promise<Uint8Array> {
  const res = await h.req({
    method: 'POST',
    url: `/tunes/${tune}/prompts`,
    payload: { prompt: { text: 'a photo of a person', w: 64, h: 64, num_images: 1, seed: 3, ...params } },
  });
  assert.equal(res.statusCode, 201, res.body);
  const p = await finished(`/prompts/${res.json().id}`);
  assert.equal(p.status, 'completed', JSON.stringify(p));
  const first = (p.images as (string | { url: string })[])[0];
  const url = new URL(typeof first === 'string' ? first : first.url);
  const got = await h.app.inject({ method: 'GET', url: url.pathname + url.search });
  return new Uint8Array(await sharp(got.rawPayload).raw().toBuffer());
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

async function photo(n: 1 | 2 | 3 | 4 | 5 | 6, width = 480): Promise<string> {
  const jpg = await sharp(samplePhotoPath(n)).resize({ width }).jpeg().toBuffer();
  return `data:image/jpeg;base64,${jpg.toString('base64')}`;
}

test('controlnet ipadapter / reference / composition through the API: the image prompt steers the image', async () => {
  const image = await photo(2, 96);
  const plain = await generate({});
  for (const type of ['ipadapter', 'reference', 'composition']) {
    const common = { controlnet: type, input_image_base64: image, controlnet_txt2img: true };
    const off = await generate({ ...common, controlnet_conditioning_scale: 0 });
    const on = await generate({ ...common, controlnet_conditioning_scale: 1 });
    assert.ok(
      meanAbsDiff(off, plain) < 1,
      `${type} at scale 0 is plain txt2img (${meanAbsDiff(off, plain)})`,
    );
    assert.ok(
      meanAbsDiff(on, plain) > 0.5,
      `${type} at scale 1 changes the image (${meanAbsDiff(on, plain)})`,
    );
  }
});

test('faceid tune: ready at creation from face photos; <faceid:ID:w> and prompts on the tune use its identity', async () => {
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: {
        title: 'faceid person',
        name: 'person',
        branch: 'sd15',
        model_type: 'faceid',
        base_tune_id: BASE_TUNE,
        images: [await photo(1), await photo(3)],
      },
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  const tune = res.json();
  assert.equal(tune.model_type, 'faceid');
  assert.ok(tune.trained_at, 'trained at creation');
  const stored = await h.rt.svc.blobs.get(`tunes/${tune.id}/weights.safetensors`);
  assert.ok(stored);
  const file = join(h.dir, 'faceid-check.safetensors');
  writeFileSync(file, stored);
  const embeddings = readFaceIdEmbeddings(file);
  assert.equal(embeddings.length, 2);
  assert.ok(Math.abs(Math.hypot(...embeddings[0]) - 1) < 1e-5);

  const plain = await generate({});
  const tagged = await generate({ text: `a photo of a person <faceid:${tune.id}:1>` });
  const weaker = await generate({ text: `a photo of a person <faceid:${tune.id}:0.4>` });
  const own = await generate({ text: 'a photo of ohwx person' }, tune.id);
  assert.ok(meanAbsDiff(tagged, plain) > 0.5, 'the identity changes the image');
  assert.ok(meanAbsDiff(tagged, weaker) > 0.1, 'the tag weight is the adapter scale');
  assert.ok(meanAbsDiff(own, plain) > 0.5, 'a prompt on the faceid tune uses its identity');

  // with a LoRA: both apply (the LoRA is merged into the adapter UNet)
  const now = nowIso();
  const lora = await insertTune(h.rt.svc.db, {
    account_id: 1,
    presentation: 'native',
    title: 'lora for faceid',
    name: 'man',
    token: 'ohwx',
    branch: 'sd15',
    model_type: 'lora',
    base_tune_id: BASE_TUNE,
    characteristics: '{}',
    args: '{}',
    pending_image_urls: '[]',
    status: 'trained',
    progress: 1,
    trained_at: now,
    created_at: now,
    updated_at: now,
  });
  await h.rt.svc.blobs.put(
    `tunes/${lora.id}/weights.safetensors`,
    readFileSync(fixturePath('sd-reference', 'lora', 'lora_kohya.safetensors')),
  );
  const both = await generate({ text: `a photo of a person <faceid:${tune.id}:1> <lora:${lora.id}:0.5>` });
  assert.ok(
    meanAbsDiff(both, tagged) > 0.2,
    `the LoRA changes the FaceID image (${meanAbsDiff(both, tagged)})`,
  );
});

test('faceid tune creation: an image without a face is a 422 naming it; nothing is stored', async () => {
  const noise = await sharp({ create: { width: 96, height: 96, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: {
        title: 'faceid no face',
        name: 'person',
        branch: 'sd15',
        model_type: 'faceid',
        images: [await photo(1), `data:image/jpeg;base64,${noise.toString('base64')}`],
      },
    },
  });
  assert.equal(res.statusCode, 422, res.body);
  assert.match(res.body, /image 2 .*no face found/);
  const list = await h.req({ method: 'GET', url: '/tunes' });
  assert.ok(!JSON.stringify(list.json()).includes('faceid no face'));
});

test('faceid tune from image_urls: downloaded during the create request; a bad URL is a 422 naming it', async () => {
  const face = await sharp(samplePhotoPath(1)).resize({ width: 480 }).jpeg().toBuffer();
  const server = createServer((req, res) => {
    if (req.url === '/face.jpg') res.end(face);
    else if (req.url === '/text') res.end('not an image');
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const create = (title: string, image_urls: string[]) =>
    h.req({
      method: 'POST',
      url: '/tunes',
      payload: {
        tune: { title, name: 'person', branch: 'sd15', model_type: 'faceid', images: [], image_urls },
      },
    });
  try {
    const ok = await create('faceid from urls', [`${base}/face.jpg`]);
    assert.equal(ok.statusCode, 201, ok.body);
    assert.ok(ok.json().trained_at, 'trained at creation');
    const rows = await listTuneImages(h.rt.svc.db, ok.json().id);
    assert.deepEqual(
      rows.map((r) => r.source_url),
      [`${base}/face.jpg`],
    );
    const tune = (await h.req({ method: 'GET', url: `/tunes/${ok.json().id}` })).json();
    assert.equal(tune.orig_images.length, 1);
    const file = join(h.dir, 'faceid-url-check.safetensors');
    writeFileSync(file, (await h.rt.svc.blobs.get(`tunes/${tune.id}/weights.safetensors`))!);
    assert.equal(readFaceIdEmbeddings(file).length, 1);

    for (const [path, why] of [
      ['/missing.jpg', /could not be downloaded: HTTP 404/],
      ['/text', /was refused/],
    ] as const) {
      const title = `faceid bad url ${path}`;
      const bad = await create(title, [`${base}/face.jpg`, `${base}${path}`]);
      assert.equal(bad.statusCode, 422, bad.body);
      const msg = bad.json().errors?.['image_urls.1']?.join(' ') ?? bad.body;
      assert.ok(msg.includes(`${base}${path}`), `names the URL: ${bad.body}`);
      assert.match(msg, why);
      const list = await h.req({ method: 'GET', url: '/tunes' });
      assert.ok(!JSON.stringify(list.json()).includes(title), 'nothing stored');
    }
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('faceid tune creation: prompts_attributes FaceID cannot run (FaceID + controlnet) are 422s; nothing is stored', async () => {
  const res = await h.req({
    method: 'POST',
    url: '/tunes',
    payload: {
      tune: {
        title: 'faceid bad attrs',
        name: 'person',
        branch: 'sd15',
        model_type: 'faceid',
        base_tune_id: BASE_TUNE,
        images: [await photo(1)],
        prompts_attributes: [
          { text: 'ohwx person', controlnet: 'ipadapter', input_image_base64: await photo(2, 96) },
        ],
      },
    },
  });
  assert.equal(res.statusCode, 422, res.body);
  assert.match(
    res.json().errors['prompts_attributes.0.controlnet'][0],
    /FaceID cannot be combined with controlnet/,
  );
  const list = await h.req({ method: 'GET', url: '/tunes' });
  assert.ok(!JSON.stringify(list.json()).includes('faceid bad attrs'));
});

test('faceid without the models installed: 422 at creation naming exactly what to install', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'atelier-faceid-none-'));
  try {
    const trainer = new FaceIdTrainer({ modelsDir: empty });
    await assert.rejects(trainer.prepare([]), (e: unknown) => {
      assert.ok(e instanceof TuneInputError);
      assert.equal(e.field, 'model_type');
      assert.match(e.message, /ip-adapter-faceid_sd15\.safetensors/);
      assert.ok(e.message.includes(arcfacePath(empty)), e.message);
      return true;
    });
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
