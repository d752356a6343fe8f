// Small image operations the control-image preprocessors share, on planes of float32 (row-major H x W) and
// on NHWC [1, H, W, C] tensors in [0, 1] (the engine's image format, pipeline/images.ts).

import type { Tensor } from '../components.ts';

/** A single-channel image, row-major. */
export interface Plane {
  data: Float32Array;
  width: number;
  height: number;
}

export function assertImage(img: Tensor): { height: number; width: number; channels: number } {
  const [b, height, width, channels] = img.dims;
  if (img.dims.length !== 4 || b !== 1 || height * width * channels !== img.data.length)
    throw new Error(`preprocess: expected one NHWC image [1, H, W, C], got [${img.dims.join(',')}]`);
  return { height, width, channels };
}

/**
 * Luma in 8-bit units (0..255) with ITU-R BT.601 weights, as OpenCV's RGB2GRAY computes it
 * (Y = 0.299 R + 0.587 G + 0.114 B), so thresholds read as they do in the ControlNet annotators.
 */
export function luma255(img: Tensor): Plane {
  const { height, width, channels } = assertImage(img);
  const out = new Float32Array(height * width);
  for (let k = 0; k < out.length; k++) {
    const p = k * channels;
    out[k] =
      channels >= 3
        ? 255 * (0.299 * img.data[p] + 0.587 * img.data[p + 1] + 0.114 * img.data[p + 2])
        : 255 * img.data[p];
  }
  return { data: out, width, height };
}

/** A normalised 1-D Gaussian kernel of radius ceil(3 sigma) (at least 1). */
export function gaussianKernel(sigma: number): Float32Array {
  if (!(sigma > 0)) throw new Error(`gaussian sigma must be > 0, got ${sigma}`);
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

const clampIndex = (i: number, n: number) => (i < 0 ? 0 : i >= n ? n - 1 : i);

/** Separable Gaussian blur with replicated borders. */
export function gaussianBlur(p: Plane, sigma: number): Plane {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const { width: w, height: h } = p;
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r] * p.data[y * w + clampIndex(x + i, w)];
      tmp[y * w + x] = s;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) s += k[i + r] * tmp[clampIndex(y + i, h) * w + x];
      out[y * w + x] = s;
    }
  return { data: out, width: w, height: h };
}

/** 3x3 Sobel derivatives (x to the right, y downward), replicated borders. */
export function sobel(p: Plane): { gx: Float32Array; gy: Float32Array } {
  const { width: w, height: h, data } = p;
  const gx = new Float32Array(w * h);
  const gy = new Float32Array(w * h);
  const at = (x: number, y: number) => data[clampIndex(y, h) * w + clampIndex(x, w)];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const tl = at(x - 1, y - 1);
      const tc = at(x, y - 1);
      const tr = at(x + 1, y - 1);
      const ml = at(x - 1, y);
      const mr = at(x + 1, y);
      const bl = at(x - 1, y + 1);
      const bc = at(x, y + 1);
      const br = at(x + 1, y + 1);
      gx[y * w + x] = tr + 2 * mr + br - (tl + 2 * ml + bl);
      gy[y * w + x] = bl + 2 * bc + br - (tl + 2 * tc + tr);
    }
  return { gx, gy };
}

/** A plane with values in [0, 1] as a 3-channel NHWC image (ControlNet control images are RGB). */
export function planeToRgb(p: Plane): Tensor {
  const out = new Float32Array(p.width * p.height * 3);
  for (let k = 0; k < p.data.length; k++) out[3 * k] = out[3 * k + 1] = out[3 * k + 2] = p.data[k];
  return { data: out, dims: [1, p.height, p.width, 3] };
}

/**
 * Area (box) downscale of an NHWC image to w x h: every output pixel is the mean of the input area it covers
 * (fractional coverage weighted), like OpenCV's INTER_AREA.
 */
export function resizeArea(img: Tensor, w: number, h: number): Tensor {
  const { height: H, width: W, channels: C } = assertImage(img);
  const out = new Float32Array(w * h * C);
  const sx = W / w;
  const sy = H / h;
  for (let y = 0; y < h; y++) {
    const y0 = y * sy;
    const y1 = y0 + sy;
    for (let x = 0; x < w; x++) {
      const x0 = x * sx;
      const x1 = x0 + sx;
      const acc = new Float64Array(C);
      let total = 0;
      for (let yy = Math.floor(y0); yy < Math.ceil(y1) && yy < H; yy++) {
        const wy = Math.min(y1, yy + 1) - Math.max(y0, yy);
        for (let xx = Math.floor(x0); xx < Math.ceil(x1) && xx < W; xx++) {
          const wgt = wy * (Math.min(x1, xx + 1) - Math.max(x0, xx));
          if (wgt <= 0) continue;
          total += wgt;
          for (let c = 0; c < C; c++) acc[c] += wgt * img.data[(yy * W + xx) * C + c];
        }
      }
      for (let c = 0; c < C; c++) out[(y * w + x) * C + c] = acc[c] / total;
    }
  }
  return { data: out, dims: [1, h, w, C] };
}

/** Bilinear resize with half-pixel centres (align_corners = false), replicated borders. */
export function resizeBilinear(img: Tensor, w: number, h: number): Tensor {
  const { height: H, width: W, channels: C } = assertImage(img);
  const out = new Float32Array(w * h * C);
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max((y + 0.5) * (H / h) - 0.5, 0), H - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, H - 1);
    const dy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) * (W / w) - 0.5, 0), W - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, W - 1);
      const dx = fx - x0;
      for (let c = 0; c < C; c++) {
        const v = (yy: number, xx: number) => img.data[(yy * W + xx) * C + c];
        const top = v(y0, x0) * (1 - dx) + v(y0, x1) * dx;
        const bottom = v(y1, x0) * (1 - dx) + v(y1, x1) * dx;
        out[(y * w + x) * C + c] = top * (1 - dy) + bottom * dy;
      }
    }
  }
  return { data: out, dims: [1, h, w, C] };
}
