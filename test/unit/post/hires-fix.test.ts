import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hiresFixStage, type Img2ImgRequest, tileSeed } from '../../../src/post/hires-fix.ts';
import type { RawImage } from '../../../src/post/types.ts';

test('hires fix runs img2img per tile at the requested strength with position-derived seeds', async () => {
  const calls: Img2ImgRequest[] = [];
  const stage = hiresFixStage(
    {
      async img2img(req) {
        calls.push(req);
        return req.image;
      },
    },
    { tile: 64, overlap: 16, strength: 0.25 },
  );
  const w = 150;
  const h = 100;
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
  const img: RawImage = { data, width: w, height: h, channels: 3 };
  const out = await stage.run(img, { seed: 1234 });
  // Identity img2img must give back the image exactly: blending weights are normalised.
  assert.deepEqual(out.data, img.data);
  assert.equal(calls.length, 3 * 2);
  for (const c of calls) assert.equal(c.strength, 0.25);
  assert.equal(new Set(calls.map((c) => c.seed)).size, calls.length, 'each tile gets its own seed');
  assert.equal(tileSeed(1234, 0, 0), calls[0].seed);
  assert.notEqual(tileSeed(1234, 0, 0), tileSeed(1235, 0, 0));
});

test('strength outside (0, 1] is refused', () => {
  const runner = { img2img: async (r: Img2ImgRequest) => r.image };
  assert.throws(() => hiresFixStage(runner, { strength: 0 }), RangeError);
  assert.throws(() => hiresFixStage(runner, { strength: 1.5 }), RangeError);
});
