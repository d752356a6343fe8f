import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyColorGrade,
  buildToneLut,
  COLOR_GRADES,
  COLOR_GRADING_PRESETS,
  type ColorGradingPreset,
  gradeMatrix,
} from '../../../src/post/color-grading.ts';

type RGB = [number, number, number];
const PATCHES: Record<string, RGB> = {
  black: [0, 0, 0],
  dark: [40, 40, 40],
  grey: [128, 128, 128],
  light: [220, 220, 220],
  white: [255, 255, 255],
  red: [200, 60, 50],
  skin: [224, 172, 140],
  sky: [90, 140, 210],
  leaf: [60, 130, 60],
};
const NAMES = Object.keys(PATCHES);

async function grade(preset: ColorGradingPreset): Promise<Record<string, RGB>> {
  const data = new Uint8Array(NAMES.flatMap((n) => PATCHES[n]));
  const out = await applyColorGrade({ data, width: NAMES.length, height: 1, channels: 3 }, preset);
  return Object.fromEntries(NAMES.map((n, i) => [n, Array.from(out.data.subarray(i * 3, i * 3 + 3)) as RGB]));
}

const chroma = (p: RGB) => Math.max(...p) - Math.min(...p);
const luma = (p: RGB) => 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
const contrast = (o: Record<string, RGB>) => (luma(o.light) - luma(o.dark)) / (220 - 40);
const meanChromaRatio = (o: Record<string, RGB>) =>
  ['red', 'sky', 'leaf'].reduce((s, n) => s + chroma(o[n]) / chroma(PATCHES[n]), 0) / 3;

test('tone LUT passes through its control points and is monotone', () => {
  for (const preset of COLOR_GRADING_PRESETS) {
    const { curve } = COLOR_GRADES[preset];
    const lut = buildToneLut(curve);
    for (const [x, y] of curve) assert.equal(lut[x], y, `${preset} curve at ${x}`);
    for (let i = 1; i < 256; i++) assert.ok(lut[i] >= lut[i - 1], `${preset} LUT decreases at ${i}`);
  }
});

test('tone LUT rejects curves that do not span 0–255', () => {
  assert.throws(() =>
    buildToneLut([
      [10, 0],
      [255, 255],
    ]),
  );
});

test('the saturation matrix keeps neutral greys when white balance is neutral', () => {
  const m = gradeMatrix({ curve: [], whiteBalance: [1, 1, 1], saturation: 1.7 });
  for (const row of m) assert.ok(Math.abs(row[0] + row[1] + row[2] - 1) < 1e-12);
});

test('sharp applies exactly the documented transform (LUT, then M = S·diag(wb)) within rounding', async () => {
  for (const preset of COLOR_GRADING_PRESETS) {
    const lut = buildToneLut(COLOR_GRADES[preset].curve);
    const m = gradeMatrix(COLOR_GRADES[preset]);
    const out = await grade(preset);
    for (const n of NAMES) {
      const c = PATCHES[n].map((v) => lut[v]);
      const expected = m.map((row) =>
        Math.min(255, Math.max(0, row[0] * c[0] + row[1] * c[1] + row[2] * c[2])),
      );
      for (let k = 0; k < 3; k++) {
        assert.ok(
          Math.abs(out[n][k] - expected[k]) <= 1,
          `${preset} ${n}[${k}]: ${out[n][k]} vs ${expected[k]}`,
        );
      }
    }
  }
});

test('Film Velvia: much more saturated, more contrast, deep blacks, cool-magenta neutrals', async () => {
  const o = await grade('Film Velvia');
  const sat = meanChromaRatio(o);
  assert.ok(sat > 1.4 && sat < 1.8, `saturation ratio ${sat}`);
  const k = contrast(o);
  assert.ok(k > 1.07 && k < 1.2, `contrast ratio ${k}`);
  assert.deepEqual(o.black, [0, 0, 0]);
  assert.ok(o.dark[1] < 40 - 8, `shadows darken: ${o.dark}`);
  const [r, g, b] = o.grey;
  assert.ok(b - r >= 3 && b - r <= 10, `cool shift B−R = ${b - r}`);
  assert.ok(g < r && g < b, `magenta shift (less green) ${o.grey}`);
});

test('Film Portra: muted colour, lower contrast, lifted blacks, warm neutrals, soft highlights', async () => {
  const o = await grade('Film Portra');
  const sat = meanChromaRatio(o);
  assert.ok(sat > 0.7 && sat < 0.92, `saturation ratio ${sat}`);
  const k = contrast(o);
  assert.ok(k > 0.88 && k < 0.98, `contrast ratio ${k}`);
  assert.ok(Math.min(...o.black) >= 10 && Math.max(...o.black) <= 18, `black lifted: ${o.black}`);
  const [r, , b] = o.grey;
  assert.ok(r - b >= 8 && r - b <= 20, `warm shift R−B = ${r - b}`);
  assert.ok(o.white[2] <= 235, `highlights roll off warm: ${o.white}`);
  // Skin keeps its warmth while skies lose chroma: the stock's portrait bias.
  assert.ok(chroma(o.skin) >= chroma(PATCHES.skin) - 4, `skin chroma ${o.skin}`);
  assert.ok(chroma(o.sky) < chroma(PATCHES.sky) * 0.8, `sky chroma ${o.sky}`);
});

test('Ektar: vivid but less than Velvia, moderately more contrast, slightly warm neutrals', async () => {
  const o = await grade('Ektar');
  const velvia = await grade('Film Velvia');
  const sat = meanChromaRatio(o);
  assert.ok(sat > 1.2 && sat < meanChromaRatio(velvia), `saturation ratio ${sat}`);
  const k = contrast(o);
  assert.ok(k > 1.03 && k < contrast(velvia), `contrast ratio ${k}`);
  assert.deepEqual(o.black, [0, 0, 0]);
  const [r, , b] = o.grey;
  assert.ok(r - b >= 5 && r - b <= 15, `warm shift R−B = ${r - b}`);
  assert.ok(chroma(o.red) > chroma(PATCHES.red) * 1.3, `punchy reds ${o.red}`);
});

test('alpha is carried through untouched and float input is accepted', async () => {
  const rgba = new Uint8Array([128, 128, 128, 7, 200, 60, 50, 250]);
  const out = await applyColorGrade({ data: rgba, width: 2, height: 1, channels: 4 }, 'Ektar');
  assert.equal(out.channels, 4);
  assert.equal(out.data[3], 7);
  assert.equal(out.data[7], 250);
  const f = await applyColorGrade(
    { data: new Float32Array([0.5, 0.5, 0.5]), width: 1, height: 1, channels: 3 },
    'Ektar',
  );
  const b = await applyColorGrade(
    { data: new Uint8Array([128, 128, 128]), width: 1, height: 1, channels: 3 },
    'Ektar',
  );
  assert.deepEqual(Array.from(f.data), Array.from(b.data));
});

test('grey images are rejected rather than silently left ungraded', async () => {
  await assert.rejects(
    applyColorGrade({ data: new Uint8Array(4), width: 2, height: 2, channels: 1 }, 'Ektar'),
    /RGB/,
  );
});
