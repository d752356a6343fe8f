import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The tiny face detector shipped in the npm package `@vladmandic/face-api` (MIT licence, © Vladimir Mandic,
 * fork of justadudewhohacks/face-api.js, MIT). Its weights are `model/tiny_face_detector_model.bin` with a
 * TF.js weights manifest (`…-weights_manifest.json`): no topology, just named tensors, each stored as uint8
 * with an affine quantization `value = q · scale + min` (tfjs-core `io/io_utils.ts` decodeWeights).
 *
 * Architecture (face-api `TinyYolov2Base.runMobilenet` with the TinyFaceDetector config): a Tiny-YOLOv2
 * (Redmon & Farhadi 2016, arXiv:1612.08242) whose 3×3 convolutions after the first are depthwise-separable
 * (MobileNet, Howard et al. 2017, arXiv:1704.04861), one class ("face"), five anchor boxes.
 */
export const FACE_API_PACKAGE = '@vladmandic/face-api';

/** Anchor box sizes in grid cells (face-api `tinyFaceDetector/const.ts` BOX_ANCHORS). */
export const TINY_FACE_ANCHORS: ReadonlyArray<{ w: number; h: number }> = [
  { w: 1.603231, h: 2.094468 },
  { w: 6.041143, h: 7.080126 },
  { w: 2.882459, h: 3.518061 },
  { w: 4.266906, h: 5.178857 },
  { w: 9.041765, h: 10.66308 },
];

/** Per-channel mean subtracted from 0–255 RGB before dividing by 255 (face-api MEAN_RGB). */
export const TINY_FACE_MEAN_RGB: readonly [number, number, number] = [117.001, 114.697, 97.404];

/** face-api's defaults: TinyYolov2Options inputSize 416 and scoreThreshold 0.5, IOU_THRESHOLD 0.4. */
export const TINY_FACE_DEFAULTS = { inputSize: 416, scoreThreshold: 0.5, iouThreshold: 0.4 } as const;

export interface NamedWeight {
  shape: number[];
  data: Float32Array;
}

export interface FaceWeights {
  weights: Map<string, NamedWeight>;
  /** sha256 of the manifest and the shards: identifies the exact weights (graph cache key). */
  identity: string;
}

const require = createRequire(import.meta.url);

/** Root folder of the installed face-api package; a clear error when it is missing. */
export function faceApiRoot(): string {
  try {
    return dirname(require.resolve(`${FACE_API_PACKAGE}/package.json`));
  } catch (e) {
    throw new Error(`the face detector needs the npm package ${FACE_API_PACKAGE}: ${(e as Error).message}`);
  }
}

export function tinyFaceManifestPath(): string {
  const path = join(faceApiRoot(), 'model', 'tiny_face_detector_model-weights_manifest.json');
  if (!existsSync(path)) throw new Error(`${FACE_API_PACKAGE} has no ${path}`);
  return path;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/**
 * Reads a TF.js weights manifest and its shards. The shards of a group are one byte stream; entries follow one
 * another in manifest order. float32 entries are stored as is (little-endian); uint8-quantized ones take one
 * byte each and are dequantized as `q · scale + min`.
 */
export function readWeightsManifest(manifestPath: string): FaceWeights {
  const text = readFileSync(manifestPath, 'utf8');
  const groups = JSON.parse(text) as Array<{ paths: string[]; weights: ManifestEntry[] }>;
  const hash = createHash('sha256').update(text);
  const weights = new Map<string, NamedWeight>();
  for (const group of groups) {
    const shards = group.paths.map((p) => readFileSync(join(dirname(manifestPath), p)));
    for (const s of shards) hash.update(s);
    const stream = Buffer.concat(shards);
    let offset = 0;
    for (const w of group.weights) {
      const count = w.shape.reduce((a, d) => a * d, 1);
      const data = new Float32Array(count);
      const q = w.quantization;
      if (w.dtype !== 'float32') throw new Error(`weight ${w.name}: dtype ${w.dtype} is not supported`);
      if (q) {
        if (q.dtype !== 'uint8' || q.scale === undefined || q.min === undefined) {
          throw new Error(`weight ${w.name}: quantization ${JSON.stringify(q)} is not supported`);
        }
        if (offset + count > stream.length) throw new Error(`weight ${w.name}: shards end too early`);
        for (let i = 0; i < count; i++) data[i] = stream[offset + i] * q.scale + q.min;
        offset += count;
      } else {
        if (offset + count * 4 > stream.length) throw new Error(`weight ${w.name}: shards end too early`);
        new Uint8Array(data.buffer).set(stream.subarray(offset, offset + count * 4));
        offset += count * 4;
      }
      weights.set(w.name, { shape: w.shape, data });
    }
    if (offset !== stream.length) {
      throw new Error(`${manifestPath}: ${stream.length - offset} bytes left after the manifest's weights`);
    }
  }
  return { weights, identity: hash.digest('hex') };
}
