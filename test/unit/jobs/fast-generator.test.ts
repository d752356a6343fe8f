import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import type { GenerationRequest } from '../../../src/domain/ports.ts';
import { FastMockGenerator, mockHue, mockPixels } from '../../../src/jobs/fast-generator.ts';

const req = (over: Partial<GenerationRequest>) =>
  ({ numImages: 2, width: 200, height: 120, seed: 5, ...over }) as GenerationRequest;

test('mock images: requested count and size, JPEG, distinct per index, progress per image', async () => {
  const steps: number[] = [];
  const r = await new FastMockGenerator().generate(req({}), {
    signal: new AbortController().signal,
    onProgress: (e) => steps.push(e.step),
  });
  assert.equal(r.images.length, 2);
  assert.deepEqual(steps, [1, 2]);
  for (const img of r.images) {
    const m = await sharp(img.data).metadata();
    assert.deepEqual([m.format, m.width, m.height], ['jpeg', 200, 120]);
  }
  assert.notDeepEqual(r.images[0].data, r.images[1].data);
  assert.match(r.notes[0], /mock/);
  assert.equal(new FastMockGenerator().capabilities().mock, true);
});

test('the MOCK letters are drawn in the middle band, near-black', () => {
  const w = 230;
  const h = 100;
  const px = mockPixels(w, h, mockHue(1, 0));
  const at = (x: number, y: number) => px[(y * w + x) * 3];
  // The M's left stem: column 0 of the first glyph, at the vertical middle.
  const cell = Math.floor(Math.min((w * 0.8) / 23, (h * 0.4) / 5));
  const x0 = Math.floor((w - 23 * cell) / 2);
  assert.equal(at(x0 + 1, Math.floor(h / 2)), 17);
  assert.ok(at(2, 2) > 100, 'background is light');
});

test('an aborted signal stops generation', async () => {
  const ctl = new AbortController();
  ctl.abort(new Error('cancelled'));
  await assert.rejects(new FastMockGenerator().generate(req({}), { signal: ctl.signal }), /cancelled/);
});

async function rawOf(jpeg: Buffer): Promise<Uint8Array> {
  return new Uint8Array(await sharp(jpeg).raw().toBuffer());
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('color_grading and film_grain are really applied to the mock images (deterministic), others stay notes', async () => {
  const gen = new FastMockGenerator();
  assert.deepEqual(gen.capabilities().features.sort(), ['color_grading', 'film_grain']);
  const signal = new AbortController().signal;
  const plain = await gen.generate(req({ numImages: 1 }), { signal });
  const graded = await gen.generate(req({ numImages: 1, colorGrading: 'Film Portra' }), { signal });
  const both = await gen.generate(req({ numImages: 1, colorGrading: 'Film Portra', filmGrain: true }), {
    signal,
  });
  const again = await gen.generate(req({ numImages: 1, colorGrading: 'Film Portra', filmGrain: true }), {
    signal,
  });
  const [p, g, b] = [
    await rawOf(plain.images[0].data),
    await rawOf(graded.images[0].data),
    await rawOf(both.images[0].data),
  ];
  // Portra lifts the blacks: the near-black MOCK letters (17) come out lighter
  assert.ok(meanAbsDiff(p, g) > 2, `grading changed the image by ${meanAbsDiff(p, g)}`);
  assert.ok(meanAbsDiff(g, b) > 0.5, `grain changed the image by ${meanAbsDiff(g, b)}`);
  assert.deepEqual(both.images[0].data, again.images[0].data);
  assert.match(both.notes.join('\n'), /color_grading and film_grain applied/);
  assert.match(both.notes[0], /mock/);
  const m = await sharp(both.images[0].data).metadata();
  assert.deepEqual([m.width, m.height], [200, 120]);
});

test('resolved: the mock reports the defaults a blank steps / scheduler / cfg_scale stand for', async () => {
  const signal = new AbortController().signal;
  const r = await new FastMockGenerator().generate(
    req({ numImages: 1, steps: 0, scheduler: null, cfgScale: null }),
    { signal },
  );
  assert.deepEqual(r.resolved, { steps: 30, scheduler: 'dpm++2m_karras', cfgScale: 7.5 });
  const s = await new FastMockGenerator().generate(
    req({ numImages: 1, steps: 12, scheduler: 'euler', cfgScale: 4 }),
    { signal },
  );
  assert.deepEqual(s.resolved, { steps: 12, scheduler: 'euler', cfgScale: 4 });
});
