import sharp from 'sharp';
import { compileCached } from '../../engine/graph/cache.ts';
import { defaultCacheDir } from '../../engine/load.ts';
import { OrtSession } from '../../engine/ort.ts';
import type { RawImage } from '../types.ts';
import { decodeGrid, type FaceBox, nonMaxSuppression } from './decode.ts';
import { readWeightsManifest, TINY_FACE_DEFAULTS, tinyFaceManifestPath } from './model.ts';
import { buildTinyFaceGraph, FACE_GRAPH_VERSION, tinyFaceGridSize } from './network.ts';
import { letterboxForDetector } from './preprocess.ts';

/**
 * Face detection with face-api's tiny face detector (see model.ts, network.ts) on onnxruntime: the weights are
 * read from the npm package, translated to an ONNX graph once (cached like the other compiled graphs), and
 * pre-/post-processing follow face-api exactly (preprocess.ts, decode.ts), so detections match face-api's
 * `detectAllFaces(tensor, new TinyFaceDetectorOptions())` on the same pixels.
 */
export interface FaceDetection {
  /** Pixels of the input image; may extend past its edges (not clipped, as face-api). */
  box: FaceBox;
  /** σ(objectness), 0–1. */
  score: number;
  /** The tiny face detector predicts no landmarks: always absent. */
  landmarks?: Array<{ x: number; y: number }>;
}

export interface FaceDetectorOptions {
  /** Network input side, a multiple of 32 (default 416; 320 or 224 are faster and miss small faces). */
  inputSize?: number;
  /** Minimum score (default 0.5). */
  scoreThreshold?: number;
  /** NMS overlap threshold (default 0.4). */
  iouThreshold?: number;
  cacheDir?: string;
  threads?: number;
}

export interface FaceDetector {
  detect(img: RawImage | Buffer): Promise<FaceDetection[]>;
  /** The raw network output [G, G, 25] (NHWC) for an image, before decoding: for parity tests. */
  rawGrid(img: RawImage): Promise<{ grid: Float32Array; gridSize: number }>;
  readonly options: Required<Pick<FaceDetectorOptions, 'inputSize' | 'scoreThreshold' | 'iouThreshold'>>;
  dispose(): Promise<void>;
}

/** Decodes an encoded image (JPEG, PNG, WebP…) to RGB, applying its EXIF orientation. */
export async function decodeForDetection(buf: Buffer): Promise<RawImage> {
  const { data, info } = await sharp(buf)
    .rotate()
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    channels: info.channels as RawImage['channels'],
  };
}

export async function createFaceDetector(opts: FaceDetectorOptions = {}): Promise<FaceDetector> {
  const options = {
    inputSize: opts.inputSize ?? TINY_FACE_DEFAULTS.inputSize,
    scoreThreshold: opts.scoreThreshold ?? TINY_FACE_DEFAULTS.scoreThreshold,
    iouThreshold: opts.iouThreshold ?? TINY_FACE_DEFAULTS.iouThreshold,
  };
  const { inputSize } = options;
  const weights = readWeightsManifest(tinyFaceManifestPath());
  const compiled = compileCached({
    cacheDir: opts.cacheDir ?? defaultCacheDir(),
    component: 'tiny-face-detector',
    identity: weights.identity,
    options: { inputSize, translator: FACE_GRAPH_VERSION },
    build: () => buildTinyFaceGraph(weights, inputSize),
  });
  // A 0.19 MB network: 'all' (NCHWc layouts) costs nothing to set up here.
  const session = await OrtSession.create(compiled.modelPath, {
    intraOpThreads: opts.threads,
    optimization: 'all',
  });
  const gridSize = tinyFaceGridSize(inputSize);

  const rawGrid = async (img: RawImage) => {
    const input = letterboxForDetector(img, inputSize);
    const out = await session.run({ image: { data: input.chw, dims: [1, 3, inputSize, inputSize] } });
    return { grid: out.grid.data, gridSize };
  };

  return {
    options,
    rawGrid,
    async detect(img) {
      const image = Buffer.isBuffer(img) ? await decodeForDetection(img) : img;
      const { grid } = await rawGrid(image);
      const found = decodeGrid(grid, gridSize, image, inputSize, options.scoreThreshold);
      // face-api runs NMS on the relative boxes scaled by inputSize (same overlaps, same float rounding).
      const scaled = found.map(({ rel }) => ({
        x: rel.x * inputSize,
        y: rel.y * inputSize,
        w: rel.w * inputSize,
        h: rel.h * inputSize,
      }));
      const keep = nonMaxSuppression(
        scaled,
        found.map((f) => f.score),
        options.iouThreshold,
      );
      return keep.map((i) => {
        const { rel, score } = found[i];
        return {
          box: {
            x: rel.x * image.width,
            y: rel.y * image.height,
            w: rel.w * image.width,
            h: rel.h * image.height,
          },
          score,
        };
      });
    },
    dispose: () => session.dispose(),
  };
}

const shared = new Map<number, Promise<FaceDetector>>();

/**
 * One detector per process and input size (default options otherwise), created on first use (graph compiled
 * once per cache directory, ~1 s session start). A failed start is not cached, so a later call retries.
 */
export function sharedFaceDetector(inputSize: number = TINY_FACE_DEFAULTS.inputSize): Promise<FaceDetector> {
  let d = shared.get(inputSize);
  if (!d) {
    d = createFaceDetector({ inputSize }).catch((e: unknown) => {
      shared.delete(inputSize);
      throw e;
    });
    shared.set(inputSize, d);
  }
  return d;
}
