// End to end through the real stages: ESRGAN (slim, for speed) → colour grading → film grain → JPEG + thumbnail.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import {
  createSuperResolutionStage,
  encodeImage,
  makeThumbnail,
  type PostProgress,
  runPostStages,
} from '../../../src/post/index.ts';

test('a prompt with super_resolution, color_grading and film_grain comes out ×4, graded, grained, encoded', async () => {
  const w = 40;
  const h = 30;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) data.set([(x * 255) / w, (y * 255) / h, 120], (y * w + x) * 3);
  const sr = await createSuperResolutionStage({
    variant: 'slim',
    cacheDir: mkdtempSync(join(tmpdir(), 'atelier-post-')),
    tile: 16,
    overlap: 4,
  });
  try {
    const params = { seed: 4242, super_resolution: true, color_grading: 'Film Portra', film_grain: true };
    const events: PostProgress[] = [];
    const img = { data, width: w, height: h, channels: 3 as const };
    const out = await runPostStages(img, params, {
      providers: { superResolution: sr },
      onProgress: (p) => events.push(p),
    });
    assert.equal(out.width, 160);
    assert.equal(out.height, 120);
    assert.deepEqual(
      [...new Set(events.map((e) => e.stage))],
      ['super_resolution', 'color_grading', 'film_grain'],
    );
    assert.equal(events.at(-1)?.fraction, 1);
    // Portra warms the picture: mean R − B rises against the upscaled-only image (grain has zero mean).
    const upscaledOnly = await runPostStages(
      img,
      { seed: 4242, super_resolution: true },
      { providers: { superResolution: sr } },
    );
    const warmth = (d: ArrayLike<number>) => {
      let s = 0;
      for (let i = 0; i < d.length; i += 3) s += d[i] - d[i + 2];
      return s / (d.length / 3);
    };
    const shift = warmth(out.data) - warmth(upscaledOnly.data);
    assert.ok(shift > 5 && shift < 30, `warmth shift ${shift}`);
    // Deterministic end to end: same seed, same bytes.
    const again = await runPostStages(img, params, { providers: { superResolution: sr } });
    assert.deepEqual(again.data, out.data);

    const jpeg = await encodeImage(out);
    const meta = await sharp(jpeg.data).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 160);
    assert.equal(meta.exif, undefined);
    const thumb = await makeThumbnail(out, { maxSide: 64 });
    assert.equal(thumb.width, 64);
    assert.equal(thumb.height, 48);
  } finally {
    await sr.dispose();
  }
});
