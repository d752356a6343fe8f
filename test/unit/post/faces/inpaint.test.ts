import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createFaceDetector, type FaceDetector } from '../../../../src/post/faces/detector.ts';
import { faceRegions, featherWeight, inpaintFacesStage } from '../../../../src/post/faces/inpaint.ts';
import type { Img2ImgRequest, Img2ImgRunner } from '../../../../src/post/hires-fix.ts';
import type { RawImage } from '../../../../src/post/types.ts';
import { noise, samplePhoto } from './images.ts';

// The generation step is a stand-in that paints the crop one colour and records its requests: these tests cover
// detection → crop → enlarge → redraw → shrink → feathered blend, not the diffusion model (hires fix's tests cover
// the engine runner).
const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-inpaint-test-'));
let detector: FaceDetector;
before(async () => {
  detector = await createFaceDetector({ cacheDir });
});
after(async () => {
  await detector.dispose();
});

function paintRunner(rgb: [number, number, number]): Img2ImgRunner & { calls: Img2ImgRequest[] } {
  const calls: Img2ImgRequest[] = [];
  return {
    calls,
    async img2img(req) {
      calls.push(req);
      const data = new Uint8Array(req.image.width * req.image.height * 3);
      for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
      return { data, width: req.image.width, height: req.image.height, channels: 3 };
    },
  };
}

test('featherWeight: 1 inside, 0 at the edge, smooth and symmetric', () => {
  assert.equal(featherWeight(50, 50, 100, 15), 1);
  assert.ok(featherWeight(0, 50, 100, 15) < 0.01);
  assert.ok(Math.abs(featherWeight(7, 50, 100, 15) - 0.5) < 1e-12); // d = 7.5 = ramp / 2
  assert.equal(featherWeight(3, 40, 100, 15), featherWeight(96, 40, 100, 15));
});

test('each face is re-generated at 512² and blended back with a feathered mask; the rest is untouched', async () => {
  const img = await samplePhoto(5, 960);
  const dets = await detector.detect(img);
  assert.equal(dets.length, 5);
  const regions = faceRegions(dets, img.width, img.height, { maxFaces: 3 });
  const runner = paintRunner([250, 20, 20]);
  const stage = inpaintFacesStage(detector, runner, { maxFaces: 3 });
  const progress: number[] = [];
  const out = await stage.run(img, { seed: 42, onProgress: (d) => progress.push(d) });
  assert.equal(runner.calls.length, 3);
  assert.deepEqual(progress, [0, 1, 2, 3]);
  for (const c of runner.calls) {
    assert.deepEqual([c.image.width, c.image.height, c.strength], [512, 512, 0.4]);
  }
  assert.equal(new Set(runner.calls.map((c) => c.seed)).size, 3, 'one seed per face');
  // The largest faces first.
  const areas = regions.map((r) => r.w * r.h);
  assert.deepEqual(
    areas,
    [...areas].sort((a, b) => b - a),
  );

  const px = (im: RawImage, x: number, y: number) => [
    ...im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3),
  ];
  const inAny = (x: number, y: number) =>
    regions.some((r) => x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h);
  let untouched = 0;
  for (let y = 0; y < img.height; y += 7)
    for (let x = 0; x < img.width; x += 7)
      if (!inAny(x, y)) {
        assert.deepEqual(px(out, x, y), px(img, x, y));
        untouched++;
      }
  assert.ok(untouched > 1000);
  for (const r of regions) {
    // Centre: the redrawn colour (other regions may overlap this one only at their feathered edges).
    const c = px(out, r.x + (r.w >> 1), r.y + (r.h >> 1));
    assert.ok(Math.abs(c[0] - 250) <= 2 && Math.abs(c[1] - 20) <= 2, `centre ${c}`);
  }
  // At the first square's edge the weight is ~0: the original pixel survives there (unless another region covers it).
  const r0 = regions[0];
  const e = [r0.x, r0.y + (r0.h >> 1)] as const;
  if (regions.slice(1).every((r) => !(e[0] >= r.x && e[0] < r.x + r.w && e[1] >= r.y && e[1] < r.y + r.h))) {
    const before = px(img, e[0], e[1]);
    const after = px(out, e[0], e[1]);
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(after[c] - before[c]) <= 3, `edge ${before} → ${after}`);
  }
});

test('no face: the image is returned unchanged and the model is not called', async () => {
  const runner = paintRunner([0, 0, 0]);
  const img = noise(320, 240, 4);
  const out = await inpaintFacesStage(detector, runner).run(img, { seed: 1 });
  assert.equal(out, img);
  assert.equal(runner.calls.length, 0);
});

test('float images stay float and unchanged away from faces', async () => {
  const u8 = await samplePhoto(3, 480);
  const img: RawImage = { ...u8, data: Float32Array.from(u8.data, (v) => v / 255) };
  const out = await inpaintFacesStage(detector, paintRunner([0, 255, 0])).run(img, { seed: 7 });
  assert.ok(out.data instanceof Float32Array);
  assert.equal(out.data[0], img.data[0]);
  assert.notDeepEqual(out.data, img.data);
});
