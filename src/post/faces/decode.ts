import { TINY_FACE_ANCHORS } from './model.ts';

/**
 * Post-processing of the tiny face detector's grid, as face-api does it (`TinyYolov2Base.extractBoxes` and
 * `ops/nonMaxSuppression`), YOLOv2 box decoding (Redmon & Farhadi 2016, arXiv:1612.08242 §2 "Direct location
 * prediction"): for cell (row, col) and anchor a with raw outputs (tx, ty, tw, th, to),
 *   score = σ(to),  cx = (col + σ(tx)) / G,  cy = (row + σ(ty)) / G,  w = e^tw · anchor_w / G,  h = e^th · anchor_h / G
 * in units of the padded square; multiplying by S/W' and S/H' (W', H' the image size after scaling its long side
 * to S, rounded) makes them relative to the image, and by the image size, pixels. Boxes are not clipped.
 */
export interface FaceBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface FaceCandidate {
  /** Relative to the image (0–1 on each axis). */
  rel: FaceBox;
  score: number;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/**
 * All cells and anchors whose score exceeds `scoreThreshold`, in grid order (row, col, anchor).
 * `grid` is [G, G, anchors·5] in NHWC order.
 */
export function decodeGrid(
  grid: Float32Array,
  gridSize: number,
  image: { width: number; height: number },
  inputSize: number,
  scoreThreshold: number,
): FaceCandidate[] {
  const anchors = TINY_FACE_ANCHORS;
  const enc = 5;
  if (grid.length !== gridSize * gridSize * anchors.length * enc) {
    throw new RangeError(`grid has ${grid.length} values, expected ${gridSize}²·${anchors.length}·${enc}`);
  }
  const scale = inputSize / Math.max(image.width, image.height);
  const rw = Math.round(image.width * scale);
  const rh = Math.round(image.height * scale);
  const fx = Math.max(rw, rh) / rw;
  const fy = Math.max(rw, rh) / rh;
  const out: FaceCandidate[] = [];
  for (let row = 0; row < gridSize; row++) {
    for (let col = 0; col < gridSize; col++) {
      for (let a = 0; a < anchors.length; a++) {
        const o = ((row * gridSize + col) * anchors.length + a) * enc;
        const score = sigmoid(grid[o + 4]);
        if (!(score > scoreThreshold)) continue;
        const cx = ((col + sigmoid(grid[o])) / gridSize) * fx;
        const cy = ((row + sigmoid(grid[o + 1])) / gridSize) * fy;
        const w = ((Math.exp(grid[o + 2]) * anchors[a].w) / gridSize) * fx;
        const h = ((Math.exp(grid[o + 3]) * anchors[a].h) / gridSize) * fy;
        out.push({ rel: { x: cx - w / 2, y: cy - h / 2, w, h }, score });
      }
    }
  }
  return out;
}

/** Intersection over union of two boxes. */
export function iou(a: FaceBox, b: FaceBox): number {
  const iw = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const ih = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = iw * ih;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/**
 * Greedy non-maximum suppression: repeatedly keep the best-scoring box and drop those overlapping it by more
 * than `iouThreshold`. Returns indices, best first. Ties: a stable ascending sort popped from the end, so of
 * equal scores the later candidate wins, as in face-api.
 */
export function nonMaxSuppression(boxes: FaceBox[], scores: number[], iouThreshold: number): number[] {
  let order = scores
    .map((score, i) => ({ score, i }))
    .sort((p, q) => p.score - q.score)
    .map((p) => p.i);
  const keep: number[] = [];
  while (order.length > 0) {
    const best = order.pop() as number;
    keep.push(best);
    order = order.filter((i) => iou(boxes[best], boxes[i]) <= iouThreshold);
  }
  return keep;
}
