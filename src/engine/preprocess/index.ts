// Control image for a ControlNet type: TypeScript algorithms for canny / tile / qr, the installed ONNX
// annotator for the network types (annotator.ts). Input and output: NHWC [1, H, W, 3] in [0, 1], same size.

import type { Tensor } from '../components.ts';
import type { SessionSettings } from '../ort.ts';
import { type Annotator, runAnnotator } from './annotator.ts';
import { type CannyOptions, cannyControlImage } from './canny.ts';
import { qrControlImage } from './qr.ts';
import { type TileOptions, tileControlImage } from './tile.ts';

export { ANNOTATOR_FILE, Annotator, annotatorMapToImage, runAnnotator } from './annotator.ts';
export { CANNY_DEFAULTS, cannyControlImage, cannyEdges } from './canny.ts';
export { qrControlImage } from './qr.ts';
export { TILE_DEFAULT_FACTOR, tileControlImage } from './tile.ts';

/** The types whose preprocessor is a TypeScript algorithm (no annotator network). */
export const ALGORITHM_TYPES = ['canny', 'tile', 'qr'] as const;

export function isAlgorithmType(t: string): t is (typeof ALGORITHM_TYPES)[number] {
  return (ALGORITHM_TYPES as readonly string[]).includes(t);
}

export interface PreprocessOptions {
  /** an open annotator (network types): used instead of opening `annotatorDir` */
  annotator?: Annotator;
  /** folder with annotator.onnx (network types; ConditioningStatus.annotatorDir), opened for this call */
  annotatorDir?: string;
  session?: SessionSettings;
  canny?: CannyOptions;
  tile?: TileOptions;
}

export async function preprocessControlImage(
  type: string,
  img: Tensor,
  opts: PreprocessOptions = {},
): Promise<Tensor> {
  if (type === 'canny') return cannyControlImage(img, opts.canny);
  if (type === 'tile') return tileControlImage(img, opts.tile);
  if (type === 'qr') return qrControlImage(img);
  const normalize = type === 'depth' ? 'minmax' : 'clamp';
  if (opts.annotator) return opts.annotator.run(img, normalize);
  if (!opts.annotatorDir)
    throw new Error(`controlnet "${type}" needs an installed annotator (annotator.onnx)`);
  return runAnnotator(opts.annotatorDir, img, normalize, opts.session);
}
