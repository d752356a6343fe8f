// Canny edge detector (J. Canny, "A Computational Approach to Edge Detection", IEEE PAMI 8(6), 1986):
// Gaussian smoothing, Sobel gradients, non-maximum suppression along the gradient direction (quantised to
// 0/45/90/135 degrees), double threshold, and hysteresis (weak edges survive only when 8-connected to a
// strong one). Output: white edges on black, 3 channels, the control image ControlNet's canny model expects.
//
// Thresholds are on the L1 gradient magnitude |gx| + |gy| of the smoothed 8-bit luma (OpenCV's default
// measure, L2gradient = false), and the defaults low 100 / high 200 are the ControlNet annotator's
// (lllyasviel/ControlNet annotator/canny: cv2.Canny(img, 100, 200)). The annotator does not blur; we smooth
// with sigma 1 first (the classic algorithm) so JPEG noise in uploads does not become edges, which makes
// gradients a little weaker than OpenCV's on the same image.

import type { Tensor } from '../components.ts';
import { gaussianBlur, luma255, type Plane, planeToRgb, sobel } from './image-ops.ts';

export interface CannyOptions {
  /** hysteresis low threshold (L1 Sobel magnitude, 8-bit units); default 100 */
  low?: number;
  /** strong-edge threshold; default 200 */
  high?: number;
  /** Gaussian smoothing sigma in pixels; 0 disables it; default 1 */
  sigma?: number;
}

export const CANNY_DEFAULTS = { low: 100, high: 200, sigma: 1 } as const;

/** Edge map (1 = edge) of one plane. */
export function cannyEdges(p: Plane, opts: CannyOptions = {}): Uint8Array {
  const low = opts.low ?? CANNY_DEFAULTS.low;
  const high = opts.high ?? CANNY_DEFAULTS.high;
  const sigma = opts.sigma ?? CANNY_DEFAULTS.sigma;
  if (!(low >= 0 && high >= low))
    throw new Error(`canny thresholds need 0 <= low <= high, got ${low}, ${high}`);
  const smooth = sigma > 0 ? gaussianBlur(p, sigma) : p;
  const { width: w, height: h } = p;
  const { gx, gy } = sobel(smooth);
  const mag = new Float32Array(w * h);
  for (let k = 0; k < mag.length; k++) mag[k] = Math.abs(gx[k]) + Math.abs(gy[k]);

  // non-maximum suppression: keep a pixel only if it is a local maximum across the edge
  const TAN22 = Math.tan(Math.PI / 8);
  const TAN67 = Math.tan((3 * Math.PI) / 8);
  const thin = new Float32Array(w * h);
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++) {
      const k = y * w + x;
      const m = mag[k];
      if (m <= low) continue;
      const ax = Math.abs(gx[k]);
      const ay = Math.abs(gy[k]);
      let a: number;
      let b: number;
      if (ay <= ax * TAN22) {
        a = mag[k - 1]; // horizontal gradient: compare left/right
        b = mag[k + 1];
      } else if (ay >= ax * TAN67) {
        a = mag[k - w]; // vertical gradient: compare up/down
        b = mag[k + w];
      } else if (gx[k] * gy[k] > 0) {
        a = mag[k - w - 1]; // gradient along the main diagonal (y grows downward)
        b = mag[k + w + 1];
      } else {
        a = mag[k - w + 1];
        b = mag[k + w - 1];
      }
      // strict on one side, not the other, so a plateau two pixels wide still leaves one edge pixel
      if (m > a && m >= b) thin[k] = m;
    }

  // double threshold + hysteresis by flood fill from the strong pixels through weak ones
  const edges = new Uint8Array(w * h);
  const stack: number[] = [];
  for (let k = 0; k < thin.length; k++) {
    if (thin[k] > high) {
      edges[k] = 1;
      stack.push(k);
    }
  }
  while (stack.length) {
    const k = stack.pop() as number;
    const x = k % w;
    const y = (k - x) / w;
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        const yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        const n = yy * w + xx;
        if (!edges[n] && thin[n] > low) {
          edges[n] = 1;
          stack.push(n);
        }
      }
  }
  return edges;
}

/** NHWC [1, H, W, 3] in [0, 1] -> the canny control image (same size, white edges on black). */
export function cannyControlImage(img: Tensor, opts: CannyOptions = {}): Tensor {
  const p = luma255(img);
  const edges = cannyEdges(p, opts);
  return planeToRgb({ data: Float32Array.from(edges), width: p.width, height: p.height });
}
