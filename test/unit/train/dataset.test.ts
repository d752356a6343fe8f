import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import type { TrainingImage } from '../../../src/domain/ports.ts';
import {
  bucketsFor,
  caption,
  faceWindow,
  nearestBucket,
  prepareDataset,
  prepareImage,
  TrainingInputError,
} from '../../../src/train/dataset.ts';

/** w×h image: left half red, right half blue; optionally stored rotated with an EXIF orientation */
async function halves(w: number, h: number, orientation?: number): Promise<TrainingImage> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      if (x < w / 2) px[o] = 255;
      else px[o + 2] = 255;
    }
  let img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
  if (orientation) img = img.withMetadata({ orientation });
  const data = await img.jpeg({ quality: 95 }).toBuffer();
  return { data, format: 'jpeg', width: w, height: h };
}

const opts = { resolution: 128, token: 'ohwx', name: 'man', faceCrop: false };
/** mean of channel c over the left and right halves of a prepared [3, h, w] image */
function sideMeans(p: { pixels: Float32Array; width: number; height: number }, c: number) {
  const plane = p.width * p.height;
  let l = 0;
  let r = 0;
  for (let y = 0; y < p.height; y++)
    for (let x = 0; x < p.width; x++) {
      const v = p.pixels[c * plane + y * p.width + x];
      if (x < p.width / 2) l += v;
      else r += v;
    }
  return { left: l / (plane / 2), right: r / (plane / 2) };
}

describe('training image pipeline', () => {
  it('captions are "<token> <name>"', () => {
    assert.equal(caption('ohwx', 'man'), 'ohwx man');
  });

  it('accepts 4 to 20 images only', async () => {
    const img = await halves(64, 64);
    await assert.rejects(prepareDataset([img, img, img], opts), TrainingInputError);
    await assert.rejects(prepareDataset(new Array(21).fill(img), opts), TrainingInputError);
    const ok = await prepareDataset([img, img, img, img], opts);
    assert.equal(ok.length, 4);
    assert.equal(ok[0].caption, 'ohwx man');
  });

  it('rejects undecodable bytes with a TrainingInputError naming the image', async () => {
    const bad = { data: Buffer.from('not an image'), format: 'jpeg', width: 1, height: 1 };
    await assert.rejects(prepareImage(bad, 2, opts), /training image 3/);
  });

  it('normalises to [-1, 1] RGB planes and applies the EXIF orientation', async () => {
    const upright = await prepareImage(await halves(128, 128), 0, opts);
    const red = sideMeans(upright, 0);
    assert.ok(red.left > 0.9 && red.right < -0.9, JSON.stringify(red));
    // orientation 3 = rotated 180°: red must end up on the right
    const rotated = await prepareImage(await halves(128, 128, 3), 0, opts);
    const r = sideMeans(rotated, 0);
    assert.ok(r.right > 0.9 && r.left < -0.9, JSON.stringify(r));
  });

  it('SD 1.5 buckets keep ~512² pixels in multiples of 64 and fit the aspect ratio', () => {
    const b = bucketsFor(512);
    for (const x of b) {
      assert.equal(x.width % 64, 0);
      assert.equal(x.height % 64, 0);
      assert.ok(x.width * x.height <= 512 * 512 && x.width * x.height > 0.8 * 512 * 512);
    }
    assert.deepEqual(nearestBucket(b, 1000, 1000), { width: 512, height: 512 });
    assert.deepEqual(nearestBucket(b, 600, 1000), { width: 384, height: 640 });
    assert.deepEqual(nearestBucket(b, 1000, 600), { width: 640, height: 384 });
  });

  it('a portrait photo goes to a portrait bucket', async () => {
    const p = await prepareImage(await halves(300, 500), 0, { ...opts, resolution: 512 });
    assert.deepEqual([p.width, p.height], [384, 640]);
    assert.equal(p.crop, 'centre');
  });

  it('face crop with a box: a square window around the face, inside the image', async () => {
    const w = faceWindow({ left: 10, top: 20, width: 40, height: 40 }, 400, 300, { width: 512, height: 512 });
    assert.deepEqual(w, { left: 0, top: 0, width: 100, height: 100 });
    const centred = faceWindow({ left: 180, top: 130, width: 40, height: 40 }, 400, 300, {
      width: 512,
      height: 512,
    });
    assert.deepEqual(centred, { left: 150, top: 100, width: 100, height: 100 });
    // the face sits in the right (blue) half: the crop must be all blue
    const img = await halves(256, 128);
    const p = await prepareImage(img, 0, {
      ...opts,
      faceCrop: true,
      faceBoxes: [{ left: 180, top: 50, width: 20, height: 20 }],
    });
    assert.equal(p.crop, 'face');
    const blue = sideMeans(p, 2);
    assert.ok(blue.left > 0.9 && blue.right > 0.9, JSON.stringify(blue));
  });

  it('face crop without a box falls back to the attention crop', async () => {
    const p = await prepareImage(await halves(256, 128), 0, { ...opts, faceCrop: true, squareOnly: true });
    assert.equal(p.crop, 'attention');
    assert.deepEqual([p.width, p.height], [128, 128]);
  });
});
