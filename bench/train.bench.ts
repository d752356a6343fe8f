// LoRA training speed on a full-size random-weight SD 1.5: seconds per training step (UNet forward + LoRA
// backward in one onnxruntime run, batch 1, rank 16 on the 128 attention projections) beside one inference
// UNet step (batch 1, same resolution) in the same process, plus session start times and peak RSS against the
// UNet's weight bytes. Each step is timed in wall seconds and in process CPU seconds (user + system of all
// onnxruntime threads): on a machine shared with other jobs the wall time depends on their load, the CPU time
// much less, so the training/inference ratio is given for both.
// Env: BENCH_TRAIN_SIZES (image sizes, default "256"; "256,512" adds 512x512), BENCH_RUNS (timed runs,
//      default 2), BENCH_RANK (default 16), BENCH_THREADS (intra-op threads, default: all cores),
//      BENCH_MODEL (a diffusers folder; default: the random SD 1.5 of scripts/make-random-sd15.ts).

import { existsSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RANDOM_SD15_DIR, makeRandomSd15 } from '../scripts/make-random-sd15.ts';
import { openCheckpoint } from '../src/engine/checkpoint/open.ts';
import { loadParts } from '../src/engine/load.ts';
import { unetConfigFromJson } from '../src/engine/models/unet.ts';
import type { SessionSettings } from '../src/engine/ort.ts';
import { TorchGenerator } from '../src/engine/rng/torch-generator.ts';
import { initLoraParams } from '../src/train/lora-file.ts';
import { compileLoraTrainingGraph } from '../src/train/training-graph.ts';
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

interface StepTime {
  wall: number;
  cpu: number;
}

async function timedStep(fn: () => Promise<unknown>): Promise<StepTime> {
  const c0 = process.cpuUsage();
  const [wall] = await timed(fn);
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

/** One warm-up, then the best of `runs` timed runs (wall and CPU minima taken separately). */
async function best(label: string, fn: () => Promise<unknown>): Promise<StepTime> {
  const warm = await timedStep(fn);
  const times: StepTime[] = [];
  for (let i = 0; i < runs; i++) times.push(await timedStep(fn));
  const b = {
    wall: Math.min(...times.map((t) => t.wall)),
    cpu: Math.min(...times.map((t) => t.cpu)),
  };
  console.log(
    `${label}: warm-up ${warm.wall.toFixed(2)} s, best of ${runs} ${b.wall.toFixed(2)} s wall / ${b.cpu.toFixed(2)} s CPU`,
  );
  return b;
}

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
const rss = () => process.resourceUsage().maxRSS * 1024;

console.log(`cores ${cpus().length}, intra-op threads ${threads ?? 'default'}, rank ${rank}, batch 1`);
const gen = new TorchGenerator(1);
const ck = openCheckpoint(modelDir);
const un = ck.unet;
if (!un?.configJson) throw new Error(`${modelDir}: no diffusers UNet config`);
const weightBytes = statSync(join(modelDir, 'unet', 'diffusion_pytorch_model.safetensors')).size;
console.log(`UNet weights ${gib(weightBytes)} GiB`);
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
  const infer = await best(`inference UNet step ${size}x${size}`, () => unet.predict(sample, 500, context));
  await parts.dispose();
  console.log(`peak RSS so far ${gib(rss())} GiB`);

  const lora = { rank, alpha: rank, includeFeedForward: false };
  const shape = { batch: 1, height: lh, width: lh, tokens: 77 };
  const [compileSecs] = await timed(async () =>
    compileLoraTrainingGraph(trainCacheDir, un.source, config, lora, shape),
  );
  console.log(`training graph build + write (0 when cached) ${compileSecs.toFixed(1)} s`);
  const [openSecs, session] = await timed(() =>
    LoraTrainingSession.open({
      cacheDir: trainCacheDir,
      source: un.source,
      config,
      lora,
      shape,
      session: settings,
    }),
  );
  console.log(`training session start ${openSecs.toFixed(1)} s`);
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
  const train = await best(`training step ${size}x${size}`, () => session.run(batch, params));
  await session.dispose();
  const peak = rss();
  console.log(
    `training step / inference step: ${(train.wall / infer.wall).toFixed(2)}x wall, ${(train.cpu / infer.cpu).toFixed(2)}x CPU; ` +
      `peak RSS ${gib(peak)} GiB = ${(peak / weightBytes).toFixed(2)}x the UNet weights`,
  );
}
ck.close();
