// SdGenerator with ControlNet and post-processing wired in (docs/conditioning.md "Wiring", docs/post.md), on the
// tiny random-weight SD 1.5 fixture in this thread (InProcessRunner): the fixture ControlNet installed as `canny`
// in a temporary models dir, color_grading / film_grain / super_resolution (slim ESRGAN) on the decoded images.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { GenerationRequest, GenerationResult } from '../../../src/domain/ports.ts';
import { controlnetDir } from '../../../src/engine/conditioning.ts';
import { ModelManager } from '../../../src/engine/model-manager.ts';
import { InProcessRunner } from '../../../src/engine/pipeline-runner.ts';
import { SdGenerator } from '../../../src/engine/sd-generator.ts';
import { fixturePath } from '../../helpers/fixtures.ts';
import { generationRequest } from '../../helpers/generation-request.ts';
import { GRAPH_CACHE, tempDir } from './pipeline/helpers.ts';

let modelsDir: string;
let gen: SdGenerator;
const previousSr = process.env.ATELIER_SR_MODEL;

before(() => {
  process.env.ATELIER_SR_MODEL = 'slim'; // the cheapest ESRGAN; read when the stage is first used
  modelsDir = tempDir('genctl');
  const d = controlnetDir(modelsDir, 'canny');
  mkdirSync(d, { recursive: true });
  symlinkSync(
    fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors'),
    `${d}/canny.safetensors`,
  );
  const runner = new InProcessRunner(
    new ModelManager({ cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } }),
    { cacheDir: GRAPH_CACHE, session: { intraOpThreads: 1 } },
  );
  gen = new SdGenerator(
    runner,
    {
      baseModel: async () => ({
        key: 'tiny',
        path: fixturePath('sd-reference', 'model'),
        tokenizerDir: fixturePath('clip-tokenizer'),
        defaultSteps: 2,
      }),
      loraFile: async () => null,
    },
    { format: 'png', modelsDir },
  );
});
after(async () => {
  await gen.close();
  rmSync(modelsDir, { recursive: true, force: true });
  if (previousSr === undefined) delete process.env.ATELIER_SR_MODEL;
  else process.env.ATELIER_SR_MODEL = previousSr;
});

function request(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return generationRequest(over);
}

async function run(req: GenerationRequest, phases: string[] = []): Promise<GenerationResult> {
  return gen.generate(req, {
    signal: new AbortController().signal,
    onProgress: (e) => phases.push(e.phase),
  });
}

async function rgb(png: Buffer): Promise<Uint8Array> {
  return new Uint8Array(await sharp(png).removeAlpha().raw().toBuffer());
}

async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = [await rgb(a), await rgb(b)];
  assert.equal(x.length, y.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
  return s / x.length;
}

/** A picture with hard edges (a bright disc on a gradient) so canny finds something. */
function discPng(n = 64): Promise<Buffer> {
  const px = Buffer.alloc(n * n * 3);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const inDisc = (x - n / 2) ** 2 + (y - n / 2) ** 2 < (n / 4) ** 2;
      const o = (y * n + x) * 3;
      px[o] = inDisc ? 240 : (x * 255) / n;
      px[o + 1] = inDisc ? 230 : 80;
      px[o + 2] = inDisc ? 50 : (y * 255) / n;
    }
  return sharp(px, { raw: { width: n, height: n, channels: 3 } })
    .png()
    .toBuffer();
}

test('capabilities: the installed canny is offered; other types carry the reason and what to install', () => {
  const c = gen.capabilities();
  assert.deepEqual(c.controlnets, ['canny']);
  assert.ok(c.features.includes('controlnet_conditioning_scale'));
  assert.ok(c.features.includes('controlnet_txt2img'));
  assert.match(c.controlnetReasons?.depth ?? '', /not installed; install .*control_v11f1p_sd15_depth/);
  assert.match(c.controlnetReasons?.ipadapter ?? '', /not installed; install ip-adapter_sd15\.safetensors/);
  assert.equal(c.controlnetReasons?.canny, undefined);
});

test('controlnet canny runs (txt2img and img2img control), depends on the scale, and an uninstalled type fails naming what to install', async () => {
  const input = await discPng();
  const plain = await run(request({ seed: 3, inputImage: input, denoisingStrength: 1 }));
  const phases: string[] = [];
  const txt = await run(
    request({ seed: 3, inputImage: input, controlnet: 'canny', controlnetTxt2img: true }),
    phases,
  );
  assert.deepEqual([txt.images[0].width, txt.images[0].height], [64, 64]);
  assert.ok(phases.includes('denoising'));
  const again = await run(
    request({ seed: 3, inputImage: input, controlnet: 'canny', controlnetTxt2img: true }),
  );
  assert.deepEqual(txt.images[0].data, again.images[0].data, 'same seed, same bytes');
  // scale 0 gives zero residuals: exactly the uncontrolled txt2img of the same seed
  const noControl = await run(request({ seed: 3 }));
  const zero = await run(
    request({
      seed: 3,
      inputImage: input,
      controlnet: 'canny',
      controlnetTxt2img: true,
      controlnetConditioningScale: 0,
    }),
  );
  assert.ok((await meanAbsDiff(zero.images[0].data, noControl.images[0].data)) < 0.5);
  assert.ok((await meanAbsDiff(txt.images[0].data, noControl.images[0].data)) > 0.5, 'control changes it');
  const img = await run(request({ seed: 3, inputImage: input, controlnet: 'canny', denoisingStrength: 0.5 }));
  assert.ok((await meanAbsDiff(img.images[0].data, plain.images[0].data)) > 0.5);
  await assert.rejects(
    run(request({ inputImage: input, controlnet: 'depth' })),
    /"depth" ControlNet and annotator are not installed; install/,
  );
  await assert.rejects(
    run(request({ inputImage: input, maskImage: input, controlnet: 'canny' })),
    /mask cannot be combined with controlnet/,
  );
});

test('color_grading and film_grain run on the decoded image: deterministic, each changes it, with progress phases', async () => {
  const base = await run(request({ seed: 5 }));
  const phases: string[] = [];
  const graded = await run(request({ seed: 5, colorGrading: 'Film Velvia', filmGrain: true }), phases);
  const graded2 = await run(request({ seed: 5, colorGrading: 'Film Velvia', filmGrain: true }));
  const gradeOnly = await run(request({ seed: 5, colorGrading: 'Film Velvia' }));
  assert.deepEqual(graded.images[0].data, graded2.images[0].data, 'same seed, same bytes');
  assert.ok((await meanAbsDiff(base.images[0].data, gradeOnly.images[0].data)) > 1, 'grading changes it');
  assert.ok((await meanAbsDiff(gradeOnly.images[0].data, graded.images[0].data)) > 0.3, 'grain changes it');
  assert.ok(phases.indexOf('decoding') < phases.indexOf('color_grading'));
  assert.ok(phases.indexOf('color_grading') < phases.indexOf('film_grain'));
});

test('each image gets its own post seed: image 1 of seed 5 equals image 0 of seed 6 after grain', async () => {
  const two = await run(request({ seed: 5, numImages: 2, filmGrain: true }));
  const one = await run(request({ seed: 6, numImages: 1, filmGrain: true }));
  assert.deepEqual(await rgb(two.images[1].data), await rgb(one.images[0].data));
});

test('super_resolution with the slim ESRGAN (ATELIER_SR_MODEL=slim) gives 4x the size', async () => {
  const phases: string[] = [];
  const r = await run(request({ seed: 7, superResolution: true }), phases);
  assert.deepEqual([r.images[0].width, r.images[0].height], [256, 256]);
  const meta = await sharp(r.images[0].data).metadata();
  assert.deepEqual([meta.width, meta.height], [256, 256]);
  assert.ok(phases.includes('super_resolution'));
});

test('hires_fix redraws the upscaled image with the engine img2img; inpaint_faces runs the detector (no face here: unchanged)', async () => {
  const sr = await run(request({ seed: 9, superResolution: true }));
  const phases: string[] = [];
  const hires = await run(request({ seed: 9, superResolution: true, hiresFix: true }), phases);
  assert.deepEqual([hires.images[0].width, hires.images[0].height], [256, 256]);
  assert.ok(phases.includes('hires_fix'), phases.join(' '));
  assert.ok((await meanAbsDiff(sr.images[0].data, hires.images[0].data)) > 0.5, 'hires fix changes it');
  const again = await run(request({ seed: 9, superResolution: true, hiresFix: true }));
  assert.deepEqual(hires.images[0].data, again.images[0].data);
  // random-weight output has no face: the stage runs, finds none, and leaves the image as it was
  const faces = await run(request({ seed: 9, superResolution: true, hiresFix: true, inpaintFaces: true }));
  assert.deepEqual(faces.images[0].data, hires.images[0].data);
});

test('face_correct runs as a stage (no restoration net installed: the low-strength inpaint path; no face here: unchanged); face_swap is refused', async () => {
  const plain = await run(request({ seed: 11 }));
  const phases: string[] = [];
  const corrected = await run(request({ seed: 11, faceCorrect: true }), phases);
  assert.ok(phases.includes('face_correct'), phases.join(' '));
  assert.deepEqual(corrected.images[0].data, plain.images[0].data);
  await assert.rejects(run(request({ faceSwap: true })), /face_swap/);
});
