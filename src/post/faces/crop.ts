import sharp, { type Sharp } from 'sharp';
import { assertImageShape, type RawImage, toUint8Image } from '../types.ts';
import type { FaceBox } from './decode.ts';

/**
 * `face_crop` for training images: a square around the largest face, with a margin, resized to `size`.
 *
 * Square: centred on the face box's centre, side = max(w, h) · (1 + 2·margin) (margin is a fraction of the
 * face's larger side added on each side), never larger than the image's shorter side, and moved (not shrunk)
 * to lie inside the image, so there is never any padding. The face stays whole and centred unless it touches
 * an image edge.
 *
 * Without a face (no boxes, or none inside the image) the fallback decides:
 * - 'attention' (default): sharp's attention strategy, which keeps the square region with the most luminance
 *   frequency, saturation and skin-tone pixels — the region a person most likely occupies;
 * - 'centre': the centred square.
 * Either way the result says which one was used (`source`).
 */
export interface FaceCropOptions {
  /** Fraction of the face's larger side added on each side (default 0.6: head, hair and some shoulders). */
  margin?: number;
  /** Output side in pixels (default 512). */
  size?: number;
  fallback?: 'attention' | 'centre';
}

export interface FaceCropResult {
  image: RawImage & { data: Uint8Array };
  /** The square cut from the input, in input pixels (for attention crops: after sharp's choice). */
  region: FaceBox | null;
  source: 'face' | 'attention' | 'centre';
}

export const DEFAULT_FACE_MARGIN = 0.6;
export const DEFAULT_CROP_SIZE = 512;

/** A box clipped to the image; null when nothing of it is inside. */
export function clipBox(b: FaceBox, width: number, height: number): FaceBox | null {
  const x0 = Math.max(0, b.x);
  const y0 = Math.max(0, b.y);
  const x1 = Math.min(width, b.x + b.w);
  const y1 = Math.min(height, b.y + b.h);
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : null;
}

const boxOf = (d: FaceBox | { box: FaceBox }): FaceBox => ('box' in d ? d.box : d);

/** The largest face by its area inside the image, clipped; null when there is none. */
export function largestFace(
  boxes: ReadonlyArray<FaceBox | { box: FaceBox }>,
  width: number,
  height: number,
): FaceBox | null {
  let best: FaceBox | null = null;
  for (const d of boxes) {
    const c = clipBox(boxOf(d), width, height);
    if (c && (!best || c.w * c.h > best.w * best.h)) best = c;
  }
  return best;
}

/** The integer square (x, y, side) around `face` described above. */
export function faceSquare(face: FaceBox, width: number, height: number, margin: number): FaceBox {
  const side = Math.max(1, Math.min(Math.round(Math.max(face.w, face.h) * (1 + 2 * margin)), width, height));
  const cx = face.x + face.w / 2;
  const cy = face.y + face.h / 2;
  const x = Math.min(Math.max(Math.round(cx - side / 2), 0), width - side);
  const y = Math.min(Math.max(Math.round(cy - side / 2), 0), height - side);
  return { x, y, w: side, h: side };
}

export async function faceCrop(
  image: RawImage,
  boxes: ReadonlyArray<FaceBox | { box: FaceBox }>,
  opts: FaceCropOptions = {},
): Promise<FaceCropResult> {
  assertImageShape(image);
  const margin = opts.margin ?? DEFAULT_FACE_MARGIN;
  const size = opts.size ?? DEFAULT_CROP_SIZE;
  if (!(margin >= 0)) throw new RangeError(`margin must be ≥ 0, got ${margin}`);
  if (!Number.isInteger(size) || size <= 0)
    throw new RangeError(`size must be a positive integer, got ${size}`);
  const img = toUint8Image(image);
  const { width, height, channels } = img;
  const input = () => sharp(img.data, { raw: { width, height, channels } });
  const finish = async (s: Sharp) => {
    const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: info.channels as RawImage['channels'],
    };
  };

  const face = largestFace(boxes, width, height);
  if (face) {
    const region = faceSquare(face, width, height, margin);
    const out = await finish(
      input()
        .extract({ left: region.x, top: region.y, width: region.w, height: region.h })
        .resize(size, size, { kernel: 'lanczos3' }),
    );
    return { image: out, region, source: 'face' };
  }

  const fallback = opts.fallback ?? 'attention';
  if (fallback === 'centre') {
    const side = Math.min(width, height);
    const region = {
      x: Math.floor((width - side) / 2),
      y: Math.floor((height - side) / 2),
      w: side,
      h: side,
    };
    const out = await finish(
      input()
        .extract({ left: region.x, top: region.y, width: side, height: side })
        .resize(size, size, { kernel: 'lanczos3' }),
    );
    return { image: out, region, source: 'centre' };
  }
  // sharp reports where the attention crop landed (cropOffsetLeft/Top, in resized pixels) only through
  // toBuffer's info; the region is mapped back to input pixels from the cover scale.
  const { data, info } = await input()
    .resize(size, size, { fit: 'cover', position: sharp.strategy.attention, kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const scale = Math.min(width, height) / size;
  const offX = (info as { cropOffsetLeft?: number }).cropOffsetLeft;
  const offY = (info as { cropOffsetTop?: number }).cropOffsetTop;
  const side = Math.min(width, height);
  const region =
    offX === undefined || offY === undefined
      ? null
      : {
          x: Math.min(Math.round(-offX * scale), width - side),
          y: Math.min(Math.round(-offY * scale), height - side),
          w: side,
          h: side,
        };
  return {
    image: {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
      channels: info.channels as RawImage['channels'],
    },
    region,
    source: 'attention',
  };
}
