import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { OrtSession } from '../../engine/ort.ts';
import type { PostStage, RawImage } from '../types.ts';
import {
  ARCFACE_BOX_SCALE,
  ARCFACE_BOX_SHIFT,
  ARCFACE_INSTALL,
  ARCFACE_SIZE,
  arcfacePath,
  l2Normalize,
} from './embedding.ts';
import { type FaceDetectorLike, facesLargestFirst } from './inpaint.ts';
import { type FaceTemplate, redrawFaces, templateRegion } from './redraw.ts';

/**
 * `face_swap` (docs/faces.md "face_swap"): every detected face of the generated image is replaced by the tune's
 * identity with an operator-installed swap network of insightface's inswapper_128 kind, at
 * `<dataDir>/models/faces/swap.onnx`; the identity comes from the face-embedding network at
 * `<dataDir>/models/faces/arcface.onnx` (embedding.ts) run on the tune's training images.
 *
 * inswapper_128's I/O, as insightface's `model_zoo/inswapper.py` (INSwapper.get) drives it:
 * - input 0 `target`: the target face aligned to 128×128 (arcface template × 128/128 shifted 8 px right,
 *   `face_align.estimate_norm`), float32 [1,3,128,128], RGB, x/255 (input_mean 0, input_std 255);
 * - input 1 `source`: float32 [1,512] = normalize(normed_embedding · emap), where `normed_embedding` is the
 *   source face's L2-normalised ArcFace embedding and `emap` the [512,512] matrix stored as the graph's LAST
 *   initializer (no node reads it: the caller applies it);
 * - output [1,3,128,128], RGB in [0, 1] (×255, clipped).
 *
 * Without landmarks the 128 crop is placed from the box the same way embedding.ts places the 112 ArcFace
 * crop (ARCFACE_BOX_SCALE, ARCFACE_BOX_SHIFT), extended to inswapper's frame: 8 px more on each side and 16 px
 * more below at the same scale, so SWAP_TEMPLATE is derived from those constants.
 */
export const SWAP_MODEL = 'faces/swap.onnx';
export const SWAP_SIZE = 128;
export const SWAP_INSTALL =
  "an inswapper_128-style face swap network (insightface's inswapper_128.onnx: inputs target [1,3,128,128] RGB x/255 and source [1,512], output [1,3,128,128] in [0,1], the [512,512] emap as its last initializer)";

/** Box side and box-centre height in the 128 crop, from embedding.ts's 112-crop placement (see above). */
export const SWAP_TEMPLATE: FaceTemplate = {
  faceFraction: ARCFACE_SIZE / (SWAP_SIZE * ARCFACE_BOX_SCALE),
  centreY: (ARCFACE_SIZE / 2 + (ARCFACE_BOX_SHIFT * ARCFACE_SIZE) / ARCFACE_BOX_SCALE) / SWAP_SIZE,
};

export function swapModelPath(modelsDir: string): string {
  return join(modelsDir, SWAP_MODEL);
}

/**
 * What is missing for face_swap under `modelsDir` (both files when both are), or null when both are installed.
 * This is the 422's text.
 */
export function faceSwapMissing(modelsDir: string | undefined): string | null {
  if (!modelsDir)
    return `face_swap needs ${SWAP_INSTALL} and ${ARCFACE_INSTALL} under <dataDir>/models/faces/`;
  const missing: string[] = [];
  if (!existsSync(swapModelPath(modelsDir))) missing.push(`${SWAP_INSTALL} at ${swapModelPath(modelsDir)}`);
  if (!existsSync(arcfacePath(modelsDir))) missing.push(`${ARCFACE_INSTALL} at ${arcfacePath(modelsDir)}`);
  return missing.length ? `face_swap needs ${missing.join(', and ')}` : null;
}

/** Identifies the installed embedder (path, size, mtime): a cached identity is reused only for the same file. */
export function embedderKey(modelsDir: string): string {
  const p = arcfacePath(modelsDir);
  const st = statSync(p);
  return `${p}:${st.size}:${Math.round(st.mtimeMs)}`;
}

/**
 * The tune's identity: the mean of the L2-normalised embeddings of its training images' faces, normalised
 * again (so it is a normed embedding like a single face's). Images without a face are skipped; none → error.
 */
export function meanIdentity(embeddings: readonly Float32Array[]): Float32Array {
  if (embeddings.length === 0) throw new Error('no face was found in any of the tune training images');
  const d = embeddings[0].length;
  const sum = new Float64Array(d);
  for (const e of embeddings) {
    if (e.length !== d) throw new Error(`face embeddings of different sizes (${d} and ${e.length})`);
    const n = l2Normalize(e);
    for (let i = 0; i < d; i++) sum[i] += n[i];
  }
  return l2Normalize(Float32Array.from(sum));
}

/** inswapper's source input: normalize(identity · emap), emap [D, D] row-major (numpy `np.dot(latent, emap)`). */
export function swapLatent(
  identity: Float32Array,
  emap: { dims: number[]; data: Float32Array },
): Float32Array {
  const d = identity.length;
  if (emap.dims.length !== 2 || emap.dims[0] !== d)
    throw new Error(`emap is [${emap.dims.join(',')}], expected [${d}, n] for a ${d}-d identity`);
  const n = emap.dims[1];
  const out = new Float64Array(n);
  for (let i = 0; i < d; i++) {
    const v = identity[i];
    const row = i * n;
    for (let j = 0; j < n; j++) out[j] += v * emap.data[row + j];
  }
  return l2Normalize(Float32Array.from(out));
}

export interface FaceSwapper {
  /** The emap read from the network file. */
  readonly emap: { dims: number[]; data: Float32Array };
  /** One aligned 128² target face with the source latent (swapLatent) → the swapped face. */
  swap(face: RawImage & { data: Uint8Array }, latent: Float32Array): Promise<RawImage & { data: Uint8Array }>;
  dispose(): Promise<void>;
}

/** Opens `<modelsDir>/faces/swap.onnx`, checking its inputs and reading its emap. */
export async function openFaceSwapper(
  modelsDir: string,
  opts: { threads?: number } = {},
): Promise<FaceSwapper> {
  const path = swapModelPath(modelsDir);
  if (!existsSync(path)) throw new Error(`face_swap needs ${SWAP_INSTALL} at ${path}`);
  const { readLastInitializer } = await import('../../engine/graph/onnx-read.ts');
  const emap = readLastInitializer(path);
  if (emap.dims.length !== 2 || emap.dims[0] !== emap.dims[1])
    throw new Error(
      `${path}: last initializer ${emap.name} is [${emap.dims.join(',')}], expected the square emap`,
    );
  // loaded here: src/post/index.ts (imported by the API) must not load onnxruntime
  const { OrtSession } = await import('../../engine/ort.ts');
  const session: OrtSession = await OrtSession.create(path, { intraOpThreads: opts.threads });
  const [target, source] = session.inputInfo;
  const fits =
    session.inputInfo.length === 2 &&
    target.type === 'float32' &&
    target.shape.length === 4 &&
    [target.shape[2], target.shape[3]].every((d) => typeof d !== 'number' || d <= 0 || d === SWAP_SIZE) &&
    source.type === 'float32' &&
    source.shape.length === 2 &&
    (typeof source.shape[1] !== 'number' || source.shape[1] <= 0 || source.shape[1] === emap.dims[1]);
  if (!fits) {
    const got = session.inputInfo.map((i) => `${i.name}: ${i.type}[${i.shape.join(',')}]`).join(', ');
    await session.dispose();
    throw new Error(`${path}: inputs are ${got || 'none'}; expected ${SWAP_INSTALL}`);
  }
  const n = SWAP_SIZE * SWAP_SIZE;
  return {
    emap,
    async swap(face, latent) {
      const chw = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) chw[c * n + i] = face.data[i * 3 + c] / 255;
      const out = await session.run({
        [target.name]: { data: chw, dims: [1, 3, SWAP_SIZE, SWAP_SIZE] },
        [source.name]: { data: latent, dims: [1, latent.length] },
      });
      const y = Object.values(out)[0];
      if (!y || y.data.length !== 3 * n)
        throw new Error(
          `${path}: output is [${y?.dims.join(',')}], expected [1,3,${SWAP_SIZE},${SWAP_SIZE}]`,
        );
      const data = new Uint8Array(3 * n);
      for (let i = 0; i < n; i++)
        for (let c = 0; c < 3; c++)
          data[i * 3 + c] = Math.min(255, Math.max(0, Math.round(y.data[c * n + i] * 255)));
      return { data, width: SWAP_SIZE, height: SWAP_SIZE, channels: 3 };
    },
    dispose: () => session.dispose(),
  };
}

export interface FaceSwapOptions {
  /** At most this many faces (default 4), largest first. */
  maxFaces?: number;
  minScore?: number;
  /** Blend ramp, fraction of the crop's side (default 0.2: inswapper's own paste erodes ~1/10 and blurs ~1/20). */
  feather?: number;
}

/** `face_swap`: each detected face (largest first) replaced by `identity` (a normed embedding), blended back. */
export function faceSwapStage(
  detector: FaceDetectorLike,
  swapper: Pick<FaceSwapper, 'emap' | 'swap'>,
  identity: Float32Array,
  opts: FaceSwapOptions = {},
): PostStage {
  const latent = swapLatent(identity, swapper.emap);
  return {
    name: 'face_swap',
    async run(img, ctx) {
      const faces = facesLargestFirst(await detector.detect(img), img.width, img.height, opts);
      const regions = faces.map((f) => templateRegion(f, SWAP_TEMPLATE));
      return redrawFaces(img, regions, (crop) => swapper.swap(crop, latent), {
        size: SWAP_SIZE,
        feather: opts.feather ?? 0.2,
        signal: ctx.signal,
        onProgress: ctx.onProgress,
      });
    },
  };
}
