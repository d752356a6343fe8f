// LoRA training speed on a full-size random-weight SD 1.5: seconds per training step (UNet forward + LoRA
// backward in one onnxruntime run, batch 1, rank 16 on the 128 attention projections) beside one inference
// UNet step (batch 1, same resolution) in the same process, plus session start times and peak RSS.
// Env: BENCH_TRAIN_SIZES (image sizes, default "256"; "256,512" adds 512x512), BENCH_RUNS (timed runs,
//      default 2), BENCH_RANK (default 16), BENCH_THREADS (intra-op threads, default: all cores),
//      BENCH_MODEL (a diffusers folder; default: the random SD 1.5 of scripts/make-random-sd15.ts).

import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RANDOM_SD15_DIR, makeRandomSd15 } from '../scripts/make-random-sd15.ts';
import { openCheckpoint } from '../src/engine/checkpoint/open.ts';
import { loadParts } from '../src/engine/load.ts';
import { unetConfigFromJson } from '../src/engine/models/unet.ts';
import type { SessionSettings } from '../src/engine/ort.ts';
import { TorchGenerator } from '../src/engine/rng/torch-generator.ts';
import { initLoraParams } from '../src/train/lora-file.ts';
import { LoraTrainingSession } from '../src/train/training-session.ts';

const sizes = (process.env.BENCH_TRAIN_SIZES ?? '256').split(',').map(Number);
const runs = Number(process.env.BENCH_RUNS ?? 2);
const rank = Number(process.env.BENCH_RANK ?? 16);
const threads = Number(process.env.BENCH_THREADS ?? 0) || undefined;
const settings: SessionSettings = { intraOpThreads: threads };
const cacheDir = join(process.cwd(), '.cache', 'graphs');
// the training graph (3.4 GB of weights) gets its own cache folder, away from the engine's graphs
const trainCacheDir = join(process.cwd(), '.cache', 'train-graphs');

const modelDir = process.env.BENCH_MODEL ?? DEFAULT_RANDOM_SD15_DIR;
if (!process.env.BENCH_MODEL && !existsSync(join(modelDir, 'unet', 'diffusion_pytorch_model.safetensors'))) {
  console.log(`writing a random SD 1.5 into ${modelDir} ...`);
  makeRandomSd15(modelDir);
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [(performance.now() - t0) / 1000, r];
}

async function best(label: string, fn: () => Promise<unknown>): Promise<number> {
  const [warm] = await timed(fn);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timed(fn))[0]);
  const b = Math.min(...times);
  console.log(`${label}: warm-up ${warm.toFixed(2)} s, best of ${runs} ${b.toFixed(2)} s`);
  return b;
}

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
const rss = () => process.resourceUsage().maxRSS * 1024;

console.log(`cores ${cpus().length}, intra-op threads ${threads ?? 'default'}, rank ${rank}, batch 1`);
const gen = new TorchGenerator(1);
const ck = openCheckpoint(modelDir);
const un = ck.unet;
if (!un?.configJson) throw new Error(`${modelDir}: no diffusers UNet config`);
const config = unetConfigFromJson(un.configJson);

for (const size of sizes) {
  const lh = size / 8;
  const sample = { data: gen.randn([1, 4, lh, lh]), dims: [1, 4, lh, lh] };
  const context = {
    data: gen.randn([1, 77, config.crossAttentionDim]),
    dims: [1, 77, config.crossAttentionDim],
  };

  const [loadSecs, parts] = await timed(() =>
    loadParts(modelDir, { components: ['unet'], cacheDir, session: settings }),
  );
  const unet = parts.unet;
  if (!unet) throw new Error('no UNet');
  console.log(`\n${size}x${size}: inference UNet load ${loadSecs.toFixed(1)} s`);
  const inferSecs = await best(`inference UNet step ${size}x${size}`, () =>
    unet.predict(sample, 500, context),
  );
  await parts.dispose();
  console.log(`peak RSS so far ${gib(rss())} GiB`);

  const [openSecs, session] = await timed(() =>
    LoraTrainingSession.open({
      cacheDir: trainCacheDir,
      source: un.source,
      config,
      lora: { rank, alpha: rank, includeFeedForward: false },
      shape: { batch: 1, height: lh, width: lh, tokens: 77 },
      session: settings,
    }),
  );
  console.log(`training graph compile/cache + session start ${openSecs.toFixed(1)} s`);
  const params = initLoraParams(session.loras, 1);
  for (const l of session.loras)
    params.set(
      l.up,
      gen.randn(l.upDims).map((v) => v * 0.01),
    );
  const batch = {
    sample,
    timesteps: Float32Array.of(500),
    encoderHiddenStates: context,
    target: { data: gen.randn([1, 4, lh, lh]), dims: [1, 4, lh, lh] },
  };
  const trainSecs = await best(`training step ${size}x${size}`, () => session.run(batch, params));
  await session.dispose();
  console.log(
    `training step / inference step: ${(trainSecs / inferSecs).toFixed(2)}x; peak RSS ${gib(rss())} GiB`,
  );
}
ck.close();
