// The step API every sampler implements (see docs/schedulers.md for how a pipeline drives it).

export type SamplerName =
  | 'euler'
  | 'euler_a'
  | 'dpm++2m'
  | 'dpm++2m_karras'
  | 'dpm++sde'
  | 'dpm++sde_karras'
  | 'lcm'
  | 'tcd';

/** Anything that fills a buffer with standard normal noise (TorchGenerator does, bit-exactly like torch.randn). */
export interface NoiseSource {
  randnInto(out: Float32Array): Float32Array;
  /** Optional: advance exactly like randnInto of `count` values without computing them (discarded draws). */
  skipRandn?(count: number): void;
}

/** Noise for one step: the values themselves (e.g. recorded), or a source to draw them from. */
export type StepNoise = Float32Array | NoiseSource;

export interface Sampler {
  readonly name: SamplerName;
  /** The timestep of every model call, in order (DPM++ SDE calls the model twice per step). */
  readonly timesteps: Float64Array;
  /** Sigmas per model call plus the final one (diffusers' `scheduler.sigmas`); empty for LCM / TCD. */
  readonly sigmas: Float32Array;
  /** Multiply the initial Gaussian latents by this (diffusers' `init_noise_sigma`, float32 value). */
  readonly initNoiseSigma: number;
  /** Model calls per solver step: 1, or 2 for the midpoint solver. */
  readonly order: number;
  /** Divisor that scaleModelInput applies at model call i (1 where the model takes x as is). */
  modelInputDivisor(i: number): number;
  /** UNet input for model call i: x / modelInputDivisor(i) (float32, written into `out` if given). */
  scaleModelInput(x: Float32Array, i: number, out?: Float32Array): Float32Array;
  /**
   * One solver update after model call i. `modelOutput` is the (CFG-combined) UNet output; `noise` is
   * required where the update is stochastic. Returns x for the next model call (into `out` if given;
   * `out` may be `x` itself).
   */
  step(
    modelOutput: Float32Array,
    i: number,
    x: Float32Array,
    noise?: StepNoise,
    out?: Float32Array,
  ): Float32Array;
  /** How many torch.randn tensors diffusers draws from the pipeline generator in step i (RNG bookkeeping). */
  generatorDrawsAt(i: number): number;
  /** img2img: noise clean latents to the level of model call i (diffusers `add_noise` at timesteps[i]). */
  addNoise(x0: Float32Array, noise: Float32Array, i: number, out?: Float32Array): Float32Array;
  /** The x0 prediction of the last step (LCM's `denoised`, useful for previews); null before any step. */
  readonly lastDenoised: Float32Array | null;
}

/** Resolves a step's noise into `buf` (drawing it when a source is given). */
export function resolveNoise(noise: StepNoise | undefined, buf: Float32Array, who: string): Float32Array {
  if (noise === undefined) throw new Error(`${who}: this step is stochastic and needs noise`);
  if (noise instanceof Float32Array) {
    if (noise.length !== buf.length)
      throw new Error(`${who}: noise has ${noise.length} values, want ${buf.length}`);
    return noise;
  }
  return noise.randnInto(buf);
}

export function outputBuffer(out: Float32Array | undefined, n: number): Float32Array {
  if (out && out.length !== n) throw new Error(`output buffer has ${out.length} values, want ${n}`);
  return out ?? new Float32Array(n);
}

/** scaleModelInput of samplers whose model takes x as is (copied into `out` when one is given). */
export function unscaledInput(x: Float32Array, out?: Float32Array): Float32Array {
  if (!out) return x;
  out.set(x);
  return out;
}
