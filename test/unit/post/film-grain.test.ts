import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyFilmGrain,
  DEFAULT_GRAIN_SIGMA,
  grainField,
  grainSigma,
  grainUniform,
} from '../../../src/post/film-grain.ts';
import type { RawImage } from '../../../src/post/types.ts';

function flat(value: number, w = 96, h = 96): RawImage {
  return { data: new Uint8Array(w * h * 3).fill(value), width: w, height: h, channels: 3 };
}

function stats(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d;
    s2 += d * d;
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean) };
}

test('the counter-based generator gives uniforms in (0,1) with the right mean and variance', () => {
  let s = 0;
  let s2 = 0;
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    const u = grainUniform(12345, i);
    assert.ok(u > 0 && u < 1);
    s += u;
    s2 += u * u;
  }
  assert.ok(Math.abs(s / n - 0.5) < 0.005, `mean ${s / n}`);
  assert.ok(Math.abs(s2 / n - (s / n) ** 2 - 1 / 12) < 0.002, 'variance 1/12');
});

test('the grain field has zero mean and unit variance after smoothing, and neighbours are correlated', () => {
  const w = 256;
  const g = grainField(7, w, 256);
  let s = 0;
  let s2 = 0;
  let cross = 0;
  for (let i = 0; i < g.length; i++) {
    s += g[i];
    s2 += g[i] * g[i];
    if (i % w < w - 1) cross += g[i] * g[i + 1];
  }
  const mean = s / g.length;
  const variance = s2 / g.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  // [1 2 1]/4 ⊗ [1 2 1]/4 gives a lag-1 correlation of (1·2 + 2·1)/6 = 2/3 along each axis.
  const rho = cross / (g.length - 256) / variance;
  assert.ok(Math.abs(rho - 2 / 3) < 0.03, `lag-1 correlation ${rho}`);
});

test('same seed, same grain; another seed, other grain', () => {
  const img = flat(128, 32, 32);
  const a = applyFilmGrain(img, 42);
  const b = applyFilmGrain(img, 42);
  const c = applyFilmGrain(img, 43);
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  assert.deepEqual(applyFilmGrain(img, 0xffffffff).data, applyFilmGrain(img, 0xffffffff).data);
});

test('grain is strongest in mid-tones: std follows σmax·4L(1−L) and vanishes at black and white', () => {
  const expectedMid = grainSigma(128 / 255) * 255;
  assert.ok(Math.abs(grainSigma(0.5) - DEFAULT_GRAIN_SIGMA) < 1e-12);
  const measured: Record<number, number> = {};
  for (const v of [0, 20, 64, 128, 192, 235, 255]) {
    const img = flat(v);
    const out = applyFilmGrain(img, 9);
    const { mean, std } = stats(out.data, img.data);
    measured[v] = std;
    const expected = grainSigma(v / 255) * 255;
    // The smoothed field's mean is the white noise's mean ÷ 0.375: std ≈ σ / (0.375·√N); allow 5 of those.
    const meanTol = (5 * expected) / (0.375 * Math.sqrt(img.width * img.height)) + 0.05;
    assert.ok(Math.abs(mean) < meanTol, `grain at ${v} is zero-mean, got ${mean} (tolerance ${meanTol})`);
    // Rounding to 8 bits adds up to 1/√12 ≈ 0.29 of std; clipping only matters at the ends.
    assert.ok(Math.abs(std - expected) < 0.35 + 0.06 * expected, `std at ${v}: ${std} vs ${expected}`);
  }
  assert.equal(measured[0], 0);
  assert.equal(measured[255], 0);
  assert.ok(measured[128] > measured[64] && measured[64] > measured[20], JSON.stringify(measured));
  assert.ok(measured[128] > measured[192] && measured[192] > measured[235], JSON.stringify(measured));
  assert.ok(Math.abs(measured[128] - expectedMid) < 0.5);
});

test('grain is monochrome (same offset on R, G, B) and alpha is untouched', () => {
  const w = 16;
  const data = new Uint8Array(w * w * 4);
  for (let i = 0; i < w * w; i++) data.set([120, 120, 120, 200], i * 4);
  const out = applyFilmGrain({ data, width: w, height: w, channels: 4 }, 5).data;
  for (let i = 0; i < w * w; i++) {
    assert.equal(out[i * 4], out[i * 4 + 1]);
    assert.equal(out[i * 4], out[i * 4 + 2]);
    assert.equal(out[i * 4 + 3], 200);
  }
});

test('float images stay float and get the same grain as 8-bit ones', () => {
  const u8 = flat(100, 24, 24);
  const f = { ...u8, data: Float32Array.from(u8.data, (v) => v / 255) };
  const a = applyFilmGrain(u8, 3).data;
  const b = applyFilmGrain(f, 3).data;
  assert.ok(b instanceof Float32Array);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i] * 255) <= 0.51);
});
