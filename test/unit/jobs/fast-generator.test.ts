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
