// Writes a full-size Stable Diffusion 1.5 architecture with random weights as a diffusers folder
// (default .cache/random-sd15, never committed), for benchmarks and memory measurements without
// downloading real weights. Usage: npx tsx scripts/make-random-sd15.ts [outDir] [--f16]

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { float32ToHalfBits } from '../src/engine/checkpoint/dtype.ts';
import { type TensorSpec, writeSafetensorsStreaming } from '../src/engine/checkpoint/safetensors.ts';
import { clipTensorShapes, SD15_CLIP } from '../src/engine/models/clip.ts';
import { SD15_UNET, unetTensorShapes } from '../src/engine/models/unet.ts';
import { SD15_VAE, vaeTensorShapes } from '../src/engine/models/vae.ts';

export const DEFAULT_RANDOM_SD15_DIR = join(process.cwd(), '.cache', 'random-sd15');

/** xorshift32 uniform floats in [0, 1): fast enough for ~1e9 values, deterministic per seed */
function makeUniform(seed: number): () => number {
  let x = (seed * 2654435761) | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** PyTorch-like default init scale: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); norms at 1, biases small. */
function randomTensor(spec: TensorSpec, rand: () => number): Float32Array {
  const n = spec.shape.reduce((a, d) => a * d, 1);
  const out = new Float32Array(n);
  const isNormWeight = /norm[^.]*\.weight$|layer_norm\d\.weight$/.test(spec.name);
  if (isNormWeight) {
    for (let i = 0; i < n; i++) out[i] = 1 + 0.05 * (rand() - 0.5);
    return out;
  }
  const fanIn = spec.shape.length > 1 ? spec.shape.slice(1).reduce((a, d) => a * d, 1) : 1;
  const bound =
    spec.name.includes('embedding.weight') && spec.shape.length === 2
      ? 0.02
      : spec.shape.length > 1
        ? 1 / Math.sqrt(fanIn)
        : 0.02;
  for (let i = 0; i < n; i++) out[i] = (2 * rand() - 1) * bound;
  return out;
}

function toF16(data: Float32Array): Uint8Array {
  const h = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) h[i] = float32ToHalfBits(data[i]);
  return new Uint8Array(h.buffer);
}

function writeComponent(
  dir: string,
  file: string,
  shapes: Map<string, number[]>,
  config: object,
  seed: number,
  f16: boolean,
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const rand = makeUniform(seed);
  const specs: TensorSpec[] = [...shapes].map(([name, shape]) => ({
    name,
    shape,
    dtype: f16 ? 'F16' : 'F32',
  }));
  writeSafetensorsStreaming(
    join(dir, file),
    specs,
    (spec) => {
      const data = randomTensor(spec, rand);
      return f16 ? toF16(data) : data;
    },
    {
      format: 'pt',
      note: 'random weights with the SD 1.5 architecture (atelier scripts/make-random-sd15.ts)',
    },
  );
}

export function makeRandomSd15(outDir = DEFAULT_RANDOM_SD15_DIR, opts: { f16?: boolean } = {}): string {
  const f16 = opts.f16 ?? false;
  const u = SD15_UNET;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    join(outDir, 'model_index.json'),
    JSON.stringify({ _class_name: 'StableDiffusionPipeline', note: 'random weights' }),
  );
  writeComponent(
    join(outDir, 'unet'),
    'diffusion_pytorch_model.safetensors',
    unetTensorShapes(u),
    {
      _class_name: 'UNet2DConditionModel',
      in_channels: u.inChannels,
      out_channels: u.outChannels,
      block_out_channels: u.blockOutChannels,
      layers_per_block: u.layersPerBlock,
      down_block_types: u.downBlockTypes,
      up_block_types: u.upBlockTypes,
      cross_attention_dim: u.crossAttentionDim,
      attention_head_dim: u.headCounts[0],
      norm_num_groups: u.normNumGroups,
      norm_eps: u.normEps,
      flip_sin_to_cos: u.flipSinToCos,
      freq_shift: u.freqShift,
      use_linear_projection: u.useLinearProjection,
      sample_size: 64,
    },
    1,
    f16,
  );
  const v = SD15_VAE;
  writeComponent(
    join(outDir, 'vae'),
    'diffusion_pytorch_model.safetensors',
    vaeTensorShapes(v),
    {
      _class_name: 'AutoencoderKL',
      in_channels: v.inChannels,
      out_channels: v.outChannels,
      latent_channels: v.latentChannels,
      block_out_channels: v.blockOutChannels,
      layers_per_block: v.layersPerBlock,
      norm_num_groups: v.normNumGroups,
      scaling_factor: v.scalingFactor,
      down_block_types: v.blockOutChannels.map(() => 'DownEncoderBlock2D'),
      up_block_types: v.blockOutChannels.map(() => 'UpDecoderBlock2D'),
      sample_size: 512,
    },
    2,
    f16,
  );
  const c = SD15_CLIP;
  writeComponent(
    join(outDir, 'text_encoder'),
    'model.safetensors',
    clipTensorShapes(c),
    {
      architectures: ['CLIPTextModel'],
      vocab_size: c.vocabSize,
      hidden_size: c.hiddenSize,
      intermediate_size: c.intermediateSize,
      num_hidden_layers: c.numLayers,
      num_attention_heads: c.numHeads,
      max_position_embeddings: c.maxPositions,
      layer_norm_eps: c.layerNormEps,
      hidden_act: c.hiddenAct,
    },
    3,
    f16,
  );
  return outDir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--')) ?? DEFAULT_RANDOM_SD15_DIR;
  if (existsSync(join(out, 'unet', 'diffusion_pytorch_model.safetensors')) && !args.includes('--force')) {
    console.log(`${out} already exists (use --force to rewrite)`);
  } else {
    const t0 = Date.now();
    makeRandomSd15(out, { f16: args.includes('--f16') });
    console.log(`wrote ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}
