// Text to image. Ref: diffusers StableDiffusionPipeline.__call__ (0.27): latents = randn * init_noise_sigma,
// then for each timestep: CFG UNet call on scale_model_input(latents), scheduler step; decode.
// Parity: refs/pipeline_txt2img.json (given latents) and refs/pipeline_seeded.json (seed only).

import { encodeConditioning } from './conditioning.ts';
import { guidanceStates, guidedDenoiser } from './guidance.ts';
import { PerImageNoise } from './noise.ts';
import { chooseSampler, decodeLatents, latentDims, report, runDenoiseLoop } from './sampling.ts';
import type { GenerateOptions, PipelineOutput, SdModel } from './types.ts';

const f = Math.fround;

export async function txt2img(model: SdModel, opts: GenerateOptions): Promise<PipelineOutput> {
  const dims = latentDims(model, opts);
  const { sampler, name, steps } = chooseSampler(model, opts);
  report(opts, { phase: 'encoding', step: 1, total: 1 });
  const cond =
    opts.conditioning ?? (await encodeConditioning(model, opts.text, opts.negativePrompt, opts.useLpw));
  const noise = new PerImageNoise(opts.seed, opts.numImages);
  const count = dims.reduce((a, d) => a * d, 1);
  const drawn = opts.initialLatents ?? noise.randn(count);
  if (drawn.length !== count) throw new Error(`initial latents: ${drawn.length} values, want ${count}`);
  const x = new Float32Array(count);
  for (let k = 0; k < count; k++) x[k] = f(drawn[k] * sampler.initNoiseSigma);
  const denoise = guidedDenoiser(
    model.unet,
    guidanceStates(cond, opts.numImages, opts.cfgScale),
    dims,
    opts.cfgScale,
  );
  const { latents, stepLatents } = await runDenoiseLoop(sampler, denoise, x, noise, opts, 0);
  const latentTensor = { data: latents, dims: [...dims] };
  return {
    latents: latentTensor,
    stepLatents,
    images: await decodeLatents(model, latentTensor, opts),
    sampler: name,
    steps,
  };
}
