// Runtime wrappers around the compiled graphs: typed calls in, typed arrays out. They own one ORT session
// each and must be disposed.

import type { ClipConfig } from './models/clip.ts';
import type { UnetConfig } from './models/unet.ts';
import type { VaeConfig } from './models/vae.ts';
import type { OrtSession } from './ort.ts';

/** A dense float32 tensor, row-major. */
export interface Tensor {
  data: Float32Array;
  dims: number[];
}

export function assertDims(what: string, t: Tensor, rank: number): void {
  const n = t.dims.reduce((a, d) => a * d, 1);
  if (t.dims.length !== rank || n !== t.data.length) {
    throw new Error(
      `${what}: expected a rank-${rank} tensor matching its data, got dims [${t.dims.join(',')}] with ${t.data.length} values`,
    );
  }
}

export type ClipOutput = 'last_hidden_state' | 'penultimate_normed' | 'penultimate_hidden_state';

export class TextEncoder {
  constructor(
    readonly config: ClipConfig,
    private readonly session: OrtSession,
  ) {}

  /**
   * ids: n rows of token ids (each an Int32Array of the same length, normally 77), or one flat Int32Array
   * of n*77. Returns [n, seq, hidden]. `clipSkip` 1 (default) is the last layer; 2 is the penultimate layer
   * through the final LayerNorm (diffusers clip_skip=1, A1111 "clip skip 2").
   */
  async encode(
    ids: Int32Array | Int32Array[],
    opts: { clipSkip?: 1 | 2; raw?: boolean } = {},
  ): Promise<Tensor> {
    const rows = Array.isArray(ids) ? ids : [ids];
    const seq = Array.isArray(ids) ? rows[0].length : Math.min(ids.length, this.config.maxPositions);
    const flat = Array.isArray(ids) ? concatInt32(rows) : ids;
    if (seq === 0 || flat.length % seq !== 0)
      throw new Error(`encode: ${flat.length} ids do not form rows of ${seq}`);
    if (seq > this.config.maxPositions)
      throw new Error(`encode: ${seq} tokens exceed ${this.config.maxPositions} positions`);
    for (const id of flat) {
      if (id < 0 || id >= this.config.vocabSize)
        throw new Error(`encode: token id ${id} outside the vocabulary`);
    }
    const output: ClipOutput =
      opts.raw === true
        ? 'penultimate_hidden_state'
        : (opts.clipSkip ?? 1) === 2
          ? 'penultimate_normed'
          : 'last_hidden_state';
    const out = await this.session.run({ input_ids: { data: flat, dims: [flat.length / seq, seq] } });
    return out[output];
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

function concatInt32(rows: Int32Array[]): Int32Array {
  const out = new Int32Array(rows.reduce((a, r) => a + r.length, 0));
  let o = 0;
  for (const r of rows) {
    if (r.length !== rows[0].length) throw new Error('encode: all id rows must have the same length');
    out.set(r, o);
    o += r.length;
  }
  return out;
}

export interface ControlResiduals {
  down: Tensor[];
  mid: Tensor;
}

export class Unet {
  constructor(
    readonly config: UnetConfig,
    private readonly session: OrtSession,
    /** present when the graph was built with ControlNet residual inputs */
    readonly skipCount?: number,
  ) {}

  /**
   * Noise (or v) prediction. sample [B, in, h, w]; timestep one number for the whole batch or one per
   * sample (fractional values allowed); encoderHiddenStates [B, tokens, cross].
   */
  async predict(
    sample: Tensor,
    timestep: number | Float32Array | number[],
    encoderHiddenStates: Tensor,
    control?: ControlResiduals,
  ): Promise<Tensor> {
    assertDims('unet sample', sample, 4);
    assertDims('unet encoder_hidden_states', encoderHiddenStates, 3);
    const batch = sample.dims[0];
    const t =
      typeof timestep === 'number' ? new Float32Array(batch).fill(timestep) : Float32Array.from(timestep);
    if (t.length !== batch) throw new Error(`unet: ${t.length} timesteps for a batch of ${batch}`);
    if (encoderHiddenStates.dims[0] !== batch) {
      throw new Error(
        `unet: encoder_hidden_states batch ${encoderHiddenStates.dims[0]} != sample batch ${batch}`,
      );
    }
    const feeds: Parameters<OrtSession['run']>[0] = {
      sample,
      timestep: { data: t, dims: [batch] },
      encoder_hidden_states: encoderHiddenStates,
    };
    if (this.skipCount !== undefined) {
      const down = control?.down ?? [];
      if (control && down.length !== this.skipCount) {
        throw new Error(
          `unet: ${down.length} down residuals, the graph has ${this.skipCount} skip connections`,
        );
      }
      if (!control) throw new Error('unet: this graph was built for ControlNet residuals; pass them');
      down.forEach((r, k) => {
        feeds[`down_residual_${k}`] = r;
      });
      feeds.mid_residual = control.mid;
    } else if (control) throw new Error('unet: graph built without ControlNet residual inputs');
    Object.assign(feeds, this.extraFeeds(batch));
    return (await this.session.run(feeds)).out_sample;
  }

  /** Inputs a specialised graph has beyond the above (IP-Adapter tokens: pipeline/ip-adapter.ts). */
  protected extraFeeds(_batch: number): Parameters<OrtSession['run']>[0] {
    return {};
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

export interface LatentDistribution {
  mean: Tensor;
  logvar: Tensor;
  std: Tensor;
}

/** A session opened on first use (compiling its graph if needed), e.g. the VAE encoder that only img2img needs. */
export class LazySession {
  private pending?: Promise<OrtSession>;
  constructor(private readonly open: () => Promise<OrtSession>) {}
  get(): Promise<OrtSession> {
    this.pending ??= this.open();
    return this.pending;
  }
  async dispose(): Promise<void> {
    const p = this.pending;
    this.pending = undefined;
    if (p) await (await p).dispose();
  }
}

export class Vae {
  constructor(
    readonly config: VaeConfig,
    private readonly decoderSession: LazySession,
    private readonly encoderSession: LazySession,
  ) {}

  /** latents [B, 4, h, w], already divided by config.scalingFactor -> image [B, 3, 8h, 8w], roughly [-1, 1], unclamped */
  async decode(latents: Tensor): Promise<Tensor> {
    assertDims('vae latents', latents, 4);
    return (await (await this.decoderSession.get()).run({ latent: latents })).image;
  }

  /** image [B, 3, H, W] in [-1, 1] -> the latent distribution (multiply a sample by config.scalingFactor) */
  async encode(images: Tensor): Promise<LatentDistribution> {
    assertDims('vae images', images, 4);
    const out = await (await this.encoderSession.get()).run({ image: images });
    return { mean: out.mean, logvar: out.logvar, std: out.std };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.decoderSession.dispose(), this.encoderSession.dispose()]);
  }
}
