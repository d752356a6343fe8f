import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EsrganUpscaler, esrganStage } from '../../../../src/post/esrgan/upscaler.ts';
import { runTiled } from '../../../../src/post/tiling.ts';
import type { RawImage } from '../../../../src/post/types.ts';
import { referenceUpscale } from './reference.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'atelier-sr-test-'));
let thick: EsrganUpscaler;
let slim: EsrganUpscaler;
before(async () => {
  thick = await EsrganUpscaler.load({ variant: 'thick', cacheDir });
  slim = await EsrganUpscaler.load({ variant: 'slim', cacheDir });
});
after(async () => {
  await thick.dispose();
  await slim.dispose();
});

function pattern(w: number, h: number): RawImage & { data: Float32Array } {
  const data = new Float32Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 37) % 256) / 255;
  return { data, width: w, height: h, channels: 3 };
}

/** A smooth image: two linear ramps and a slow sine, no edges anywhere. */
function smoothGradient(w: number, h: number): RawImage & { data: Float32Array } {
  const data = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = 0.15 + (0.7 * x) / (w - 1);
      data[i + 1] = 0.2 + (0.6 * y) / (h - 1);
      data[i + 2] = 0.5 + 0.3 * Math.sin((x + y) / 40);
    }
  return { data, width: w, height: h, channels: 3 };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// Agreement with TF.js running the same model.json: float32 on both sides, different summation orders.
const PARITY_TOLERANCE = 1e-4;

test('ONNX graphs of the slim and medium networks agree with the TF.js reference execution', async () => {
  const img = pattern(24, 18);
  const ref = await referenceUpscale('slim', img.data, img.width, img.height);
  assert.deepEqual(ref.shape, [1, 72, 96, 3]);
  const out = await slim.runWhole(img);
  const d = maxAbsDiff(out.data, ref.data);
  assert.ok(d < PARITY_TOLERANCE, `slim: max |onnx − tfjs| = ${d}`);

  const medium = await EsrganUpscaler.load({ variant: 'medium', cacheDir });
  try {
    const small = pattern(13, 10);
    const refM = await referenceUpscale('medium', small.data, small.width, small.height);
    const dm = maxAbsDiff((await medium.runWhole(small)).data, refM.data);
    assert.ok(dm < PARITY_TOLERANCE, `medium: max |onnx − tfjs| = ${dm}`);
  } finally {
    await medium.dispose();
  }
});

test('ONNX graph of the thick network (pixel shuffle, residual scaling) agrees with TF.js', async () => {
  const img = pattern(11, 9);
  const ref = await referenceUpscale('thick', img.data, img.width, img.height);
  const out = await thick.runWhole(img);
  assert.equal(out.width, 44);
  assert.equal(out.height, 36);
  const d = maxAbsDiff(out.data, ref.data);
  assert.ok(d < PARITY_TOLERANCE, `max |onnx − tfjs| = ${d}`);
});

test('tiled ×4 output has exactly 4× the size for sizes that do not divide into tiles', async () => {
  const img = pattern(37, 23);
  const progress: number[] = [];
  const out = await slim.upscale(img, { onProgress: (d) => progress.push(d) }, { tile: 16, overlap: 4 });
  assert.equal(out.width, 148);
  assert.equal(out.height, 92);
  assert.equal(out.channels, 3);
  assert.ok(out.data instanceof Uint8Array);
  assert.equal(out.data.length, 148 * 92 * 3);
  assert.equal(progress.at(-1), 3 * 2);
});

/** Largest mean |step| between neighbouring output columns (or rows) away from the image border. */
function maxStep(img: RawImage, axis: 'x' | 'y', margin: number): number {
  const { width: W, height: H, data } = img;
  let worst = 0;
  const outer = axis === 'x' ? W : H;
  const inner = axis === 'x' ? H : W;
  for (let a = margin; a < outer - margin; a++) {
    let s = 0;
    for (let b = 0; b < inner; b++) {
      const p = axis === 'x' ? b * W + a : a * W + b;
      const q = axis === 'x' ? p - 1 : p - W;
      for (let c = 0; c < 3; c++) s += Math.abs(data[p * 3 + c] - data[q * 3 + c]);
    }
    worst = Math.max(worst, s / (inner * 3));
  }
  return worst;
}

test('no visible seam on a smooth gradient across tile borders; without overlap the same check fails', async () => {
  const img = smoothGradient(64, 48);
  const whole = await thick.runWhole(img);
  for (let i = 0; i < whole.data.length; i++) whole.data[i] = Math.min(1, Math.max(0, whole.data[i]));
  const tiled = async (overlap: number) =>
    runTiled(img, { tile: 32, overlap, scale: 4, output: 'float32' }, (t) => thick.runWhole(t));

  const good = await tiled(12);
  // Everywhere within 3/255 of the untiled result…
  const d = maxAbsDiff(good.data, whole.data);
  assert.ok(d < 3 / 255, `max |tiled − whole| = ${d * 255}/255`);
  // …and no column or row step (the signature of a seam) larger than the untiled image has.
  for (const axis of ['x', 'y'] as const) {
    const ref = maxStep(whole, axis, 24);
    const got = maxStep(good, axis, 24);
    assert.ok(got < ref * 1.15 + 1e-4, `${axis}: largest step ${got} vs ${ref} untiled`);
  }

  // The check is sensitive: abutting tiles without overlap show the network's border effects as seams.
  const bad = await tiled(0);
  assert.ok(maxStep(bad, 'x', 24) > maxStep(whole, 'x', 24) * 3, 'seams must be detectable');
});

test('the stage loads lazily, honours abort, and refuses non-RGB input', async () => {
  const stage = esrganStage({ variant: 'slim', cacheDir, tile: 8, overlap: 2 });
  try {
    const out = await stage.run(pattern(10, 6), { seed: 1 });
    assert.equal(out.width, 40);
    const ctrl = new AbortController();
    ctrl.abort();
    await assert.rejects(stage.run(pattern(10, 6), { seed: 1, signal: ctrl.signal }), { name: 'AbortError' });
    await assert.rejects(
      stage.run({ data: new Uint8Array(4 * 4 * 4), width: 4, height: 4, channels: 4 }, { seed: 1 }),
      /RGB/,
    );
  } finally {
    await stage.dispose();
  }
});
