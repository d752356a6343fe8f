// Test images: the real photos that ship in @vladmandic/face-api's demo/ folder (MIT package), decoded and
// downscaled with sharp, plus synthetic images that contain no face.
import { join } from 'node:path';
import sharp from 'sharp';
import { faceApiRoot } from '../../../../src/post/faces/model.ts';
import type { RawImage } from '../../../../src/post/types.ts';

export type Rgb8 = RawImage & { data: Uint8Array };

export function samplePhotoPath(n: 1 | 2 | 3 | 4 | 5 | 6): string {
  return join(faceApiRoot(), 'demo', `sample${n}.jpg`);
}

/** A sample photo, optionally cropped (in original pixels) and resized to `width`. */
export async function samplePhoto(
  n: 1 | 2 | 3 | 4 | 5 | 6,
  width: number,
  crop?: { left: number; top: number; width: number; height: number },
): Promise<Rgb8> {
  let s = sharp(samplePhotoPath(n)).removeAlpha();
  if (crop) s = s.extract(crop);
  const { data, info } = await s.resize({ width }).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

/** Uniform RGB noise from a fixed linear congruential sequence (reproducible). */
export function noise(width: number, height: number, seed = 1): Rgb8 {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels: 3 };
}

/** A diagonal colour gradient. */
export function gradient(width: number, height: number): Rgb8 {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((255 * x) / (width - 1));
      data[i + 1] = Math.round((255 * y) / (height - 1));
      data[i + 2] = Math.round((255 * (x + y)) / (width + height - 2));
    }
  return { data, width, height, channels: 3 };
}
