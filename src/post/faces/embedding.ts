import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OrtSession } from '../../engine/ort.ts';
import { assertImageShape, type RawImage } from '../types.ts';
import { clipBox } from './crop.ts';
import type { FaceBox } from './decode.ts';
import { decodeForDetection, type FaceDetection, sharedFaceDetector } from './detector.ts';

/**
 * Face-recognition embeddings with an operator-installed ArcFace network (Deng et al. 2019, "ArcFace: Additive
 * Angular Margin Loss for Deep Face Recognition"), as insightface's `ArcFaceONNX` runs it: the face warped to
 * 112×112 on insightface's five-point template, RGB, (x − 127.5) / 127.5, NCHW → one 512-d vector,
 * L2-normalised (insightface `Face.normed_embedding`, which IP-Adapter FaceID and face swappers read).
 *
 * Install: `<dataDir>/models/faces/arcface.onnx`, e.g. insightface's `buffalo_l/w600k_r50.onnx` (ResNet-50
 * trained on WebFace600K). Contract: first input float32 [1|N, 3, 112, 112], first output [N, D] (D = 512 for
 * every insightface recogniser). Models whose graph starts with its own Sub/Mul normalisation (old
 * `arcface_r100_v1`) expect raw 0–255 input: set `normalize: false`.
 *
 * Alignment: with five landmarks (eyes, nose, mouth corners) the face is mapped onto the template by the
 * least-squares similarity transform (Umeyama 1991, as skimage's SimilarityTransform.estimate). The bundled
 * detector (tiny face detector) gives boxes only, so the default is a box alignment: a square of side
 * ARCFACE_BOX_SCALE · max(w, h) whose centre sits ARCFACE_BOX_SHIFT · h above the box centre, which puts a
 * brows-to-chin box where the template's features are (template brow-to-chin span ≈ 80 of 112 px, its centre
 * ≈ 17 px below the crop centre). No rotation is corrected, so tilted heads embed less consistently than
 * with landmarks.
 */
export const ARCFACE_FILE = 'arcface.onnx';
export const ARCFACE_SIZE = 112;
/** insightface `arcface_dst`: eye L, eye R, nose tip, mouth L, mouth R in the 112×112 crop */
export const ARCFACE_TEMPLATE: ReadonlyArray<readonly [number, number]> = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];
export const ARCFACE_BOX_SCALE = 1.4;
export const ARCFACE_BOX_SHIFT = 0.21;

export function arcfacePath(modelsDir: string): string {
  return join(modelsDir, 'faces', ARCFACE_FILE);
}

export const ARCFACE_INSTALL =
  "an ArcFace face-recognition network exported to ONNX (insightface buffalo_l's w600k_r50.onnx: input [1,3,112,112] RGB (x-127.5)/127.5, output [1,512])";

/** 2×3 affine matrix [a, b, tx, c, d, ty] mapping source pixels (x, y) to crop pixels. */
export type Affine = [number, number, number, number, number, number];

/** Least-squares similarity transform (rotation, uniform scale, translation) taking `src` points onto `dst`. */
export function similarityTransform(
  src: ReadonlyArray<readonly [number, number]>,
  dst: ReadonlyArray<readonly [number, number]>,
): Affine {
  const n = src.length;
  if (n < 2 || dst.length !== n) throw new RangeError('similarityTransform needs ≥ 2 matching point pairs');
  let sx = 0;
  let sy = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i][0];
    sy += src[i][1];
    dx += dst[i][0];
    dy += dst[i][1];
  }
  sx /= n;
  sy /= n;
  dx /= n;
  dy /= n;
  // closed form of Umeyama for 2-D: minimise Σ |s·R·(p − p̄) − (q − q̄)|²
  let num1 = 0;
  let num2 = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i][0] - sx;
    const py = src[i][1] - sy;
    const qx = dst[i][0] - dx;
    const qy = dst[i][1] - dy;
    num1 += px * qx + py * qy;
    num2 += px * qy - py * qx;
    den += px * px + py * py;
  }
  if (den === 0) throw new RangeError('similarityTransform: source points coincide');
  const a = num1 / den; // s·cos θ
  const b = num2 / den; // s·sin θ
  return [a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)];
}

/** The box alignment described above, as an affine (scale + translation). */
export function boxAlignment(box: FaceBox, size = ARCFACE_SIZE): Affine {
  const side = ARCFACE_BOX_SCALE * Math.max(box.w, box.h);
  const cx = box.x + box.w / 2;
  const cy = box.y + box.h / 2 - ARCFACE_BOX_SHIFT * box.h;
  const s = size / side;
  return [s, 0, size / 2 - s * cx, 0, s, size / 2 - s * cy];
}

/** The alignment for a detection: five landmarks when present, else its box. */
export function faceAlignment(face: FaceDetection, size = ARCFACE_SIZE): Affine {
  const lm = face.landmarks;
  if (lm && lm.length === 5) {
    const k = size / ARCFACE_SIZE;
    return similarityTransform(
      lm.map((p) => [p.x, p.y] as const),
      ARCFACE_TEMPLATE.map(([x, y]) => [x * k, y * k] as const),
    );
  }
  return boxAlignment(face.box, size);
}

/**
 * Warps an image (8-bit or float, 1/3/4 channels) into a size×size RGB crop through `m` (source → crop),
 * bilinear, black outside the image (cv2.warpAffine's borderValue 0). Values stay in the input's units.
 */
export function warpAffine(img: RawImage, m: Affine, size: number): Float32Array {
  assertImageShape(img);
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (!Number.isFinite(det) || det === 0) throw new RangeError('warpAffine: singular transform');
  // inverse: crop (u, v) -> source (x, y)
  const ia = d / det;
  const ib = -b / det;
  const ic = -c / det;
  const id = a / det;
  const { width, height, channels, data } = img;
  const out = new Float32Array(size * size * 3);
  const px = (x: number, y: number, ch: number) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return 0;
    const cc = channels < 3 ? 0 : ch;
    return data[(y * width + x) * channels + cc];
  };
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const ux = u - tx;
      const vy = v - ty;
      const x = ia * ux + ib * vy;
      const y = ic * ux + id * vy;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      for (let ch = 0; ch < 3; ch++) {
        const top = px(x0, y0, ch) * (1 - fx) + px(x0 + 1, y0, ch) * fx;
        const bottom = px(x0, y0 + 1, ch) * (1 - fx) + px(x0 + 1, y0 + 1, ch) * fx;
        out[(v * size + u) * 3 + ch] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

/** HWC RGB crop (0–255, or 0–1 when `unit`) -> ArcFace input NCHW, (x − 127.5) / 127.5 unless raw. */
export function arcfaceInput(
  hwc: Float32Array,
  size: number,
  unit: boolean,
  normalize: boolean,
): Float32Array {
  const out = new Float32Array(3 * size * size);
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = unit ? hwc[i * 3 + c] * 255 : hwc[i * 3 + c];
      out[c * plane + i] = normalize ? (v - 127.5) / 127.5 : v;
    }
  }
  return out;
}

export function l2Normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  if (!(n > 0)) throw new Error('face embedding is all zeros: the recognition network output is degenerate');
  return v.map((x) => x / n);
}

export interface FaceEmbedding {
  /** L2-normalised identity vector (512 values for insightface recognisers) */
  embedding: Float32Array;
  /** the face it came from, in input pixels */
  box: FaceBox;
  score: number;
}

export interface FaceDetectorLike {
  detect(img: RawImage): Promise<FaceDetection[]>;
}

export interface FaceEmbedderOptions {
  /** default: the shared tiny face detector */
  detector?: FaceDetectorLike;
  /** (x − 127.5) / 127.5 before the network (default true; false for graphs that normalise themselves) */
  normalize?: boolean;
  threads?: number;
}

export interface FaceEmbedder {
  /** The largest face's embedding; null when the detector finds no face. */
  embedLargest(img: RawImage | Buffer): Promise<FaceEmbedding | null>;
  /** One embedding per detected face, largest first. */
  embedAll(img: RawImage | Buffer): Promise<FaceEmbedding[]>;
  /** The embedding of one given face (a detection from any detector) in `img`. */
  embedFace(img: RawImage, face: FaceDetection): Promise<Float32Array>;
  readonly path: string;
  dispose(): Promise<void>;
}

/**
 * Opens `<modelsDir>/faces/arcface.onnx`. Throws, naming exactly what to install, when it is missing.
 * Sessions are not shared: dispose the embedder when done.
 */
export async function openFaceEmbedder(
  modelsDir: string,
  opts: FaceEmbedderOptions = {},
): Promise<FaceEmbedder> {
  const path = arcfacePath(modelsDir);
  if (!existsSync(path)) throw new Error(`face embedding needs ${ARCFACE_INSTALL} at ${path}`);
  const session = await OrtSession.create(path, { intraOpThreads: opts.threads });
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  const normalize = opts.normalize ?? true;
  const detector = opts.detector ?? (await sharedFaceDetector());

  const embedFace = async (img: RawImage, face: FaceDetection): Promise<Float32Array> => {
    const crop = warpAffine(img, faceAlignment(face), ARCFACE_SIZE);
    const data = arcfaceInput(crop, ARCFACE_SIZE, img.data instanceof Float32Array, normalize);
    const out = await session.run({ [input]: { data, dims: [1, 3, ARCFACE_SIZE, ARCFACE_SIZE] } });
    const vec = out[output];
    if (vec.dims.length !== 2 || vec.dims[0] !== 1)
      throw new Error(`${path}: output ${output} is [${vec.dims.join(',')}], expected [1, D]`);
    return l2Normalize(vec.data.slice());
  };

  const facesOf = async (buf: RawImage | Buffer) => {
    const img = Buffer.isBuffer(buf) ? await decodeForDetection(buf) : buf;
    return { img, faces: rankFaces(await detector.detect(img), img.width, img.height) };
  };

  return {
    path,
    embedFace,
    async embedAll(buf) {
      const { img, faces } = await facesOf(buf);
      const out: FaceEmbedding[] = [];
      for (const f of faces) out.push({ embedding: await embedFace(img, f), box: f.box, score: f.score });
      return out;
    },
    async embedLargest(buf) {
      const { img, faces } = await facesOf(buf);
      const f = faces[0];
      return f ? { embedding: await embedFace(img, f), box: f.box, score: f.score } : null;
    },
    dispose: () => session.dispose(),
  };
}

/** Detections with some area inside the image, largest (by that area) first. */
export function rankFaces(found: FaceDetection[], width: number, height: number): FaceDetection[] {
  const area = (f: FaceDetection) => {
    const c = clipBox(f.box, width, height);
    return c ? c.w * c.h : 0;
  };
  return found.filter((f) => area(f) > 0).sort((a, b) => area(b) - area(a));
}
