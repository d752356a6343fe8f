import { assertImageShape, type RawImage } from '../types.ts';

/**
 * The detector's input, as face-api builds it from an image tensor (`NetInput.toBatchTensor(inputSize, false)`):
 * 1. pad to a square of side S = max(W, H) with zeros on the bottom or the right (`padToSquare`, not centred);
 * 2. resize to inputSize × inputSize with TF's bilinear resize, `alignCorners = false, halfPixelCenters = false`:
 *    output pixel (y, x) samples the input at (y·S/inputSize, x·S/inputSize) (the legacy "asymmetric" mapping),
 *    interpolating between floor and min(floor + 1, S − 1).
 * Values stay 0–255 RGB; the mean subtraction and scaling are in the graph. Output is planar [3, n, n].
 */
export interface DetectorInput {
  chw: Float32Array;
  inputSize: number;
  /** Original image size. */
  width: number;
  height: number;
}

/** Interleaved RGB in 0–255 whatever the channel count (grey replicated, alpha dropped, float 0–1 scaled). */
export function rgb255(img: RawImage): Float32Array {
  assertImageShape(img);
  const { width, height, channels, data } = img;
  const unit = data instanceof Uint8Array ? 1 : 255;
  const n = width * height;
  const out = new Float32Array(n * 3);
  for (let p = 0; p < n; p++) {
    const s = p * channels;
    if (channels < 3) {
      const v = data[s] * unit;
      out[p * 3] = v;
      out[p * 3 + 1] = v;
      out[p * 3 + 2] = v;
    } else {
      out[p * 3] = data[s] * unit;
      out[p * 3 + 1] = data[s + 1] * unit;
      out[p * 3 + 2] = data[s + 2] * unit;
    }
  }
  return out;
}

export function letterboxForDetector(img: RawImage, inputSize: number): DetectorInput {
  const { width: w, height: h } = img;
  const rgb = rgb255(img);
  const side = Math.max(w, h);
  const ratio = side / inputSize;
  const plane = inputSize * inputSize;
  const chw = new Float32Array(3 * plane);
  // Pixel of the padded square: the image, zero outside it.
  const at = (y: number, x: number, c: number): number => (y < h && x < w ? rgb[(y * w + x) * 3 + c] : 0);
  for (let oy = 0; oy < inputSize; oy++) {
    const sy = oy * ratio;
    const y0 = Math.floor(sy);
    const y1 = Math.min(side - 1, Math.ceil(sy));
    const fy = sy - y0;
    for (let ox = 0; ox < inputSize; ox++) {
      const sx = ox * ratio;
      const x0 = Math.floor(sx);
      const x1 = Math.min(side - 1, Math.ceil(sx));
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const tl = at(y0, x0, c);
        const tr = at(y0, x1, c);
        const bl = at(y1, x0, c);
        const br = at(y1, x1, c);
        const top = tl + (tr - tl) * fx;
        const bottom = bl + (br - bl) * fx;
        chw[c * plane + oy * inputSize + ox] = top + (bottom - top) * fy;
      }
    }
  }
  return { chw, inputSize, width: w, height: h };
}
