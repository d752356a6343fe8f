// Training images in, model-ready tensors out: decode, apply the EXIF orientation, check the count, crop
// (around a face when a face box is known, otherwise sharp's attention/saliency crop when face_crop is asked,
// otherwise centre), resize to a resolution bucket of the base model's size, and caption "<token> <name>".
//
// Buckets: kohya-style aspect-ratio buckets. Every bucket has about the base resolution's area (e.g. 512²
// for SD 1.5) with sides that are multiples of 64 (8× the VAE factor, so the latent divides through the
// UNet's three downsamplers); an image goes to the bucket whose aspect ratio is closest to its own, so a
// portrait photo is not cropped to a square. Each bucket is its own training graph shape.
//
// Face crop: `faceBoxes` holds one optional box per image, found by the face detector (src/post/faces, face-api's
// tiny face detector; `detectFaceBoxes` below keeps the largest face of each image). The crop is a bucket-shaped
// window centred on the face and FACE_CONTEXT× its size; for an image without a detected face, sharp's
// `attention` strategy (crops to the region with the most luminance frequency, saturation and skin tone) stands
// in, which usually keeps the person.

import sharp from 'sharp';
import type { TrainingImage } from '../domain/ports.ts';
import { largestFace } from '../post/faces/crop.ts';

export const MIN_IMAGES = 4;
export const MAX_IMAGES = 20;
const FACE_CONTEXT = 2.5;

export class TrainingInputError extends Error {
  override name = 'TrainingInputError';
}

export interface FaceBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Bucket {
  width: number;
  height: number;
}

export interface PreparedImage {
  /** [3, height, width], RGB in [-1, 1] (the VAE encoder's input range) */
  pixels: Float32Array;
  width: number;
  height: number;
  caption: string;
  /** how it was cropped: 'face', 'attention' or 'centre' */
  crop: 'face' | 'attention' | 'centre';
}

export interface DatasetOptions {
  /** base model's native square resolution (512 for SD 1.5) */
  resolution: number;
  token: string;
  name: string;
  faceCrop: boolean;
  faceBoxes?: (FaceBox | null)[];
  /** disable aspect buckets (everything square) */
  squareOnly?: boolean;
}

export function caption(token: string, name: string): string {
  return `${token} ${name}`.trim();
}

/** Buckets of about resolution² pixels, sides multiples of 64, aspect ratios from 1:2 to 2:1. */
export function bucketsFor(resolution: number): Bucket[] {
  const step = 64;
  const area = resolution * resolution;
  const out: Bucket[] = [];
  const seen = new Set<string>();
  for (let w = step; w <= resolution * 2; w += step) {
    const h = Math.floor(area / w / step) * step;
    if (h < step || w / h > 2 || h / w > 2) continue;
    for (const b of [
      { width: w, height: h },
      { width: h, height: w },
    ]) {
      const key = `${b.width}x${b.height}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(b);
      }
    }
  }
  if (!seen.has(`${resolution}x${resolution}`)) out.push({ width: resolution, height: resolution });
  return out.sort((a, b) => a.width / a.height - b.width / b.height);
}

export function nearestBucket(buckets: Bucket[], width: number, height: number): Bucket {
  const target = Math.log(width / height);
  let best = buckets[0];
  for (const b of buckets) {
    if (
      Math.abs(Math.log(b.width / b.height) - target) < Math.abs(Math.log(best.width / best.height) - target)
    )
      best = b;
  }
  return best;
}

/** A window of the bucket's aspect ratio around the face, FACE_CONTEXT× the face's size, inside the image. */
export function faceWindow(face: FaceBox, imageW: number, imageH: number, bucket: Bucket): FaceBox {
  const aspect = bucket.width / bucket.height;
  const side = Math.max(face.width, face.height) * FACE_CONTEXT;
  let w = Math.max(side, side * aspect);
  let h = w / aspect;
  const shrink = Math.min(1, imageW / w, imageH / h);
  w = Math.floor(w * shrink);
  h = Math.floor(h * shrink);
  const cx = face.left + face.width / 2;
  const cy = face.top + face.height / 2;
  const left = Math.round(Math.min(Math.max(cx - w / 2, 0), imageW - w));
  const top = Math.round(Math.min(Math.max(cy - h / 2, 0), imageH - h));
  return { left, top, width: w, height: h };
}

export function checkImageCount(images: readonly unknown[]): void {
  if (images.length < MIN_IMAGES || images.length > MAX_IMAGES) {
    throw new TrainingInputError(
      `LoRA training needs ${MIN_IMAGES} to ${MAX_IMAGES} images, got ${images.length}`,
    );
  }
}

export async function prepareImage(
  image: TrainingImage,
  index: number,
  opts: DatasetOptions,
): Promise<PreparedImage> {
  let oriented: Buffer;
  let w: number;
  let h: number;
  try {
    const { data, info } = await sharp(image.data).rotate().toBuffer({ resolveWithObject: true });
    oriented = data;
    w = info.width;
    h = info.height;
  } catch (e) {
    throw new TrainingInputError(`training image ${index + 1} cannot be decoded: ${(e as Error).message}`);
  }
  const buckets = opts.squareOnly
    ? [{ width: opts.resolution, height: opts.resolution }]
    : bucketsFor(opts.resolution);
  const face = opts.faceCrop ? opts.faceBoxes?.[index] : null;
  const bucket = face ? { width: opts.resolution, height: opts.resolution } : nearestBucket(buckets, w, h);
  let pipeline = sharp(oriented);
  let crop: PreparedImage['crop'] = 'centre';
  if (face) {
    pipeline = pipeline.extract(faceWindow(face, w, h, bucket));
    crop = 'face';
  }
  const position = opts.faceCrop && !face ? sharp.strategy.attention : 'centre';
  if (opts.faceCrop && !face) crop = 'attention';
  const { data } = await pipeline
    .resize(bucket.width, bucket.height, { fit: 'cover', position })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = bucket.width * bucket.height;
  const pixels = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++)
    for (let c = 0; c < 3; c++) pixels[c * plane + i] = (data[i * 3 + c] / 255) * 2 - 1;
  return {
    pixels,
    width: bucket.width,
    height: bucket.height,
    caption: caption(opts.token, opts.name),
    crop,
  };
}

export async function prepareDataset(
  images: TrainingImage[],
  opts: DatasetOptions,
): Promise<PreparedImage[]> {
  checkImageCount(images);
  const out: PreparedImage[] = [];
  for (let i = 0; i < images.length; i++) out.push(await prepareImage(images[i], i, opts));
  return out;
}

/** A face detector as the dataset needs it: boxes (x, y, w, h) in the pixels of the EXIF-oriented image. */
export type DetectFaces = (
  image: Buffer,
) => Promise<{ box: { x: number; y: number; w: number; h: number } }[]>;

/**
 * The box of the largest face of each image (clipped to the image), or null where none is found: the training
 * subject is the most prominent face, and a group photo's bystanders are smaller. Boxes are in oriented pixels,
 * the frame prepareImage crops after applying the EXIF orientation.
 */
export async function detectFaceBoxes(
  images: TrainingImage[],
  detect: DetectFaces,
): Promise<(FaceBox | null)[]> {
  const out: (FaceBox | null)[] = [];
  for (const [i, image] of images.entries()) {
    let width: number;
    let height: number;
    try {
      const m = await sharp(image.data).metadata();
      // EXIF orientations 5–8 rotate by 90°: the oriented frame swaps the stored sides.
      const turned = (m.orientation ?? 1) >= 5;
      width = turned ? m.height : m.width;
      height = turned ? m.width : m.height;
    } catch (e) {
      throw new TrainingInputError(`training image ${i + 1} cannot be decoded: ${(e as Error).message}`);
    }
    const face = largestFace(await detect(image.data), width, height);
    out.push(face && { left: face.x, top: face.y, width: face.w, height: face.h });
  }
  return out;
}

/**
 * The installed face detector (src/post/faces), loaded on first use so that a trainer without face_crop never
 * starts it. Its default input size (416) and score threshold (0.5) are face-api's.
 */
export const installedFaceDetector: DetectFaces = async (image) => {
  const { sharedFaceDetector } = await import('../post/faces/detector.ts');
  return (await sharedFaceDetector()).detect(image);
};
