// Tile preprocessor: the input image, downscaled by `factor` (area averaging) and scaled back up to its size
// (bilinear), i.e. a low-detail copy that the tile ControlNet re-details. ControlNet 1.1's "tile_resample"
// does the same resampling; factor 1 returns the image unchanged.

import type { Tensor } from '../components.ts';
import { assertImage, resizeArea, resizeBilinear } from './image-ops.ts';

export interface TileOptions {
  /** downscale factor (>= 1); default 2 */
  factor?: number;
}

export const TILE_DEFAULT_FACTOR = 2;

export function tileControlImage(img: Tensor, opts: TileOptions = {}): Tensor {
  const factor = opts.factor ?? TILE_DEFAULT_FACTOR;
  if (!(factor >= 1)) throw new Error(`tile factor must be >= 1, got ${factor}`);
  const { width, height } = assertImage(img);
  if (factor === 1) return { data: img.data.slice(), dims: [...img.dims] };
  const small = resizeArea(
    img,
    Math.max(1, Math.round(width / factor)),
    Math.max(1, Math.round(height / factor)),
  );
  return resizeBilinear(small, width, height);
}
