import { compileCached } from '../../engine/graph/cache.ts';
import { defaultCacheDir } from '../../engine/load.ts';
import { type OptimizationLevel, OrtSession } from '../../engine/ort.ts';
import { runTiled } from '../tiling.ts';
import { assertImageShape, type PostContext, type PostStage, type RawImage } from '../types.ts';
import { ESRGAN_VARIANTS, type EsrganVariant, esrganModelJson } from './models.ts';
import { buildSrGraph, describeSrNetwork, SR_GRAPH_VERSION, type SrNetworkInfo } from './network.ts';
import { readTfjsLayersModel } from './weights.ts';

/**
 * ×4 super-resolution with an ESRGAN-family network on onnxruntime, tiled so any image size runs in bounded
 * memory: the network sees `tile`×`tile` input pixels at a time (plus `overlap` shared with each neighbour,
 * cross-faded by `runTiled`), so activation memory depends on the tile, not the image.
 */
export interface EsrganOptions {
  variant?: EsrganVariant;
  /** Where the compiled ONNX graph is cached (default: the engine's, $ATELIER_GRAPH_CACHE or ./.cache/graphs). */
  cacheDir?: string;
  /** onnxruntime intra-op threads (default: one per core). */
  threads?: number;
  /** onnxruntime graph optimisation level (default 'all': see DEFAULT_OPTIMIZATION). */
  optimization?: OptimizationLevel;
}

export interface UpscaleOptions {
  /** Tile side in input pixels (default `DEFAULT_TILE`). */
  tile?: number;
  /** Overlap between tiles in input pixels (default 16). */
  overlap?: number;
}

/**
 * 'all' adds onnxruntime's CPU layout transforms (NCHWc convolutions) to 'extended', the engine's default. For this
 * conv-only network it was ~25 % faster per tile (thick, 64×64, interleaved runs on the same machine) and session
 * creation is not slower (~1 s for thick), unlike the much larger UNet graphs.
 */
export const DEFAULT_OPTIMIZATION: OptimizationLevel = 'all';
/**
 * 128: the network's speed per pixel does not depend on the tile (thick: 28-31 GFLOP/s for 64² to 256² tiles in
 * one process) while the overlap work does ((T / (T − 16))² = 1.31× the image's FLOPs at 128, 1.14× at 256), but
 * with 256² tiles the bench's live memory was 2-2.5× higher and grew with the image (slim: 477 / 585 / 636 MB for
 * 256² / 512² / 1024² inputs against a flat ~250 MB at 128), so 128 stays (docs/post.md).
 */
export const DEFAULT_TILE = 128;
export const DEFAULT_OVERLAP = 16;

export class EsrganUpscaler {
  private constructor(
    private readonly session: OrtSession,
    readonly variant: EsrganVariant,
    readonly info: SrNetworkInfo,
    readonly modelPath: string,
  ) {}

  static async load(opts: EsrganOptions = {}): Promise<EsrganUpscaler> {
    const variant = opts.variant ?? 'thick';
    const net = readTfjsLayersModel(esrganModelJson(variant));
    const info = describeSrNetwork(net);
    if (info.scale !== 4) throw new Error(`${variant} upscales ×${info.scale}, expected ×4`);
    const range = ESRGAN_VARIANTS[variant].range;
    const compiled = compileCached({
      cacheDir: opts.cacheDir ?? defaultCacheDir(),
      component: `esrgan-${variant}-x4`,
      identity: net.identity,
      options: { range, translator: SR_GRAPH_VERSION },
      build: () => buildSrGraph(net, { range }),
    });
    const session = await OrtSession.create(compiled.modelPath, {
      intraOpThreads: opts.threads,
      optimization: opts.optimization ?? DEFAULT_OPTIMIZATION,
    });
    return new EsrganUpscaler(session, variant, info, compiled.modelPath);
  }

  /** Runs the network on one RGB image as a single tile (no tiling): input H×W, output 4H×4W, float 0–1. */
  async runWhole(img: RawImage): Promise<RawImage & { data: Float32Array }> {
    assertImageShape(img);
    if (img.channels !== 3)
      throw new RangeError(`super-resolution needs an RGB image, got ${img.channels} channels`);
    const { width: w, height: h } = img;
    const plane = w * h;
    const unit = img.data instanceof Uint8Array ? 1 / 255 : 1;
    const chw = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) {
      chw[p] = img.data[p * 3] * unit;
      chw[plane + p] = img.data[p * 3 + 1] * unit;
      chw[2 * plane + p] = img.data[p * 3 + 2] * unit;
    }
    const out = (await this.session.run({ image: { data: chw, dims: [1, 3, h, w] } })).sr;
    const [, c, oh, ow] = out.dims;
    if (c !== 3 || oh !== 4 * h || ow !== 4 * w) {
      throw new Error(`network returned [${out.dims.join(',')}], expected [1,3,${4 * h},${4 * w}]`);
    }
    const oplane = oh * ow;
    const hwc = new Float32Array(3 * oplane);
    for (let p = 0; p < oplane; p++) {
      hwc[p * 3] = out.data[p];
      hwc[p * 3 + 1] = out.data[oplane + p];
      hwc[p * 3 + 2] = out.data[2 * oplane + p];
    }
    return { data: hwc, width: ow, height: oh, channels: 3 };
  }

  /** Tiled ×4 upscale of an RGB image; 8-bit output (use `output: 'float32'` through runTiled for float). */
  upscale(img: RawImage, ctx: Omit<PostContext, 'seed'> = {}, opts: UpscaleOptions = {}): Promise<RawImage> {
    if (img.channels !== 3) {
      return Promise.reject(
        new RangeError(`super-resolution needs an RGB image, got ${img.channels} channels`),
      );
    }
    return runTiled(
      img,
      { tile: opts.tile ?? DEFAULT_TILE, overlap: opts.overlap ?? DEFAULT_OVERLAP, scale: 4 },
      (t) => this.runWhole(t),
      { signal: ctx.signal, onProgress: ctx.onProgress },
    );
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

/**
 * The `super_resolution` post stage. The network is loaded (and its graph compiled, once per cache) on first
 * use and kept for later prompts; `dispose` releases it.
 */
export function esrganStage(
  opts: EsrganOptions & UpscaleOptions = {},
): PostStage & { dispose(): Promise<void> } {
  let loading: Promise<EsrganUpscaler> | null = null;
  return {
    name: 'super_resolution',
    async run(img, ctx) {
      // A failed load is not cached: the next prompt tries again (e.g. after the package is installed).
      loading ??= EsrganUpscaler.load(opts).catch((e: unknown) => {
        loading = null;
        throw e;
      });
      const up = await loading;
      return up.upscale(img, ctx, opts);
    },
    async dispose() {
      const l = loading;
      loading = null;
      if (l) await (await l).dispose();
    },
  };
}
