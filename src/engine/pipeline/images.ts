// Pixels <-> tensors. VAE input is NCHW in [-1, 1] (diffusers VaeImageProcessor: x / 255 * 2 - 1); output
// is clamp(x / 2 + 0.5, 0, 1) as NHWC, and 8-bit values are round(x * 255) with the product in float32 and
// round-half-to-even, exactly numpy_to_pil (refs/pipeline_seeded.json "png_rounding_tie_indices").

import sharp from 'sharp';
import type { Tensor } from '../components.ts';

const f = Math.fround;

/** NHWC [B, H, W, C] in [0, 1] -> NCHW [B, C, H, W] in [-1, 1]. */
export function nhwcToVaeInput(img: Tensor): Tensor {
  const [b, h, w, c] = img.dims;
  const out = new Float32Array(img.data.length);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) {
          const v = img.data[((n * h + y) * w + x) * c + ch];
          out[((n * c + ch) * h + y) * w + x] = f(f(2 * v) - 1);
        }
  return { data: out, dims: [b, c, h, w] };
}

/** VAE decoder output NCHW (roughly [-1, 1]) -> NHWC in [0, 1]: clamp(x / 2 + 0.5, 0, 1). */
export function vaeOutputToNhwc(img: Tensor): Tensor {
  const [b, c, h, w] = img.dims;
  const out = new Float32Array(img.data.length);
  for (let n = 0; n < b; n++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const v = f(f(img.data[((n * c + ch) * h + y) * w + x] / 2) + 0.5);
          out[((n * h + y) * w + x) * c + ch] = Math.min(1, Math.max(0, v));
        }
  return { data: out, dims: [b, h, w, c] };
}

/** numpy's round-half-to-even of a float32 product x * 255. */
export function toByte(x: number): number {
  const p = f(x * 255);
  const fl = Math.floor(p);
  const d = p - fl;
  if (d > 0.5) return fl + 1;
  if (d < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** One image of an NHWC [0, 1] batch as 8-bit interleaved RGB. */
export function imageBytes(img: Tensor, index: number): Uint8Array {
  const [, h, w, c] = img.dims;
  const per = h * w * c;
  const out = new Uint8Array(per);
  const src = img.data.subarray(index * per, (index + 1) * per);
  for (let k = 0; k < per; k++) out[k] = toByte(src[k]);
  return out;
}

/** The centred width x height window of an interleaved RGB image of fullWidth x fullHeight. */
export function cropCentre(
  rgb: Uint8Array,
  fullWidth: number,
  fullHeight: number,
  width: number,
  height: number,
): Uint8Array {
  if (width === fullWidth && height === fullHeight) return rgb;
  const left = Math.floor((fullWidth - width) / 2);
  const top = Math.floor((fullHeight - height) / 2);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * fullWidth + left) * 3;
    out.set(rgb.subarray(from, from + width * 3), y * width * 3);
  }
  return out;
}

export type ImageFormat = 'png' | 'jpeg';

/** Encodes one 8-bit RGB image; sharp's encoders are deterministic for the same pixels and options. */
export async function encodeImage(
  rgb: Uint8Array,
  width: number,
  height: number,
  format: ImageFormat,
  quality = 95,
): Promise<Buffer> {
  const s = sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), {
    raw: { width, height, channels: 3 },
  });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer();
}

/**
 * Any image file (JPEG/PNG/WebP) -> NHWC [1, H, W, 3] in [0, 1] at exactly width x height (cover-resized
 * and centre-cropped when the aspect differs; alpha flattened on white).
 */
export async function decodeImageFile(data: Buffer, width: number, height: number): Promise<Tensor> {
  const { data: raw } = await sharp(data)
    .rotate()
    .flatten({ background: '#ffffff' })
    .resize(width, height, { fit: 'cover' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Float32Array(width * height * 3);
  for (let k = 0; k < out.length; k++) out[k] = f(raw[k] / 255);
  return { data: out, dims: [1, height, width, 3] };
}

/** A mask file -> NHWC [1, H, W, 1] in [0, 1] from its luminance (white = repaint). */
export async function decodeMaskFile(data: Buffer, width: number, height: number): Promise<Tensor> {
  const { data: raw } = await sharp(data)
    .rotate()
    .flatten({ background: '#000000' })
    .resize(width, height, { fit: 'cover' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Float32Array(width * height);
  const channels = raw.length / (width * height);
  for (let k = 0; k < out.length; k++) out[k] = f(raw[k * channels] / 255);
  return { data: out, dims: [1, height, width, 1] };
}
