// UNet (512x512, batch 2) and VAE decode timings on a full-size random-weight SD 1.5, beside a same-run
// roofline: the GFLOP/s onnxruntime reaches on one large MatMul. Prints each model's FLOP count and the
// fraction of the roofline it reaches, and peak RSS against the weights' size.
// Env: the session settings of bench/session-env.ts (BENCH_THREADS, BENCH_OPT, BENCH_ARENA, BENCH_MEMPATTERN,
//      BENCH_CONFIG), BENCH_RUNS (timed runs, default 2), BENCH_MODEL (a diffusers folder; default: the random
//      SD 1.5, written by scripts/make-random-sd15.ts on first use).
// Per-operator profiles of the same models: scripts/profile-engine.ts.

import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RANDOM_SD15_DIR, makeRandomSd15 } from '../scripts/make-random-sd15.ts';
import { GraphBuilder, MODEL_FILE } from '../src/engine/graph/builder.ts';
import { loadParts } from '../src/engine/load.ts';
import { unetFlops } from '../src/engine/models/unet.ts';
import { vaeDecoderFlops } from '../src/engine/models/vae.ts';
import { OrtSession } from '../src/engine/ort.ts';
import { benchSessionSettings, describeSettings } from './session-env.ts';

const runs = Number(process.env.BENCH_RUNS ?? 2);
const settings = benchSessionSettings();

function randn(n: number, seed: number): Float32Array {
  let x = seed | 1;
  const u = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await fn();
  return [(performance.now() - t0) / 1000, r];
}

async function best(label: string, n: number, fn: () => Promise<unknown>): Promise<number> {
  const [warm] = await time(fn);
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push((await time(fn))[0]);
  const b = Math.min(...times);
  console.log(`${label}: warm-up ${warm.toFixed(2)} s, best of ${n} ${b.toFixed(3)} s`);
  return b;
}

async function roofline(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-roofline-'));
  try {
    const n = 2048;
    const g = new GraphBuilder('roofline');
    g.output('c', g.op('MatMul', [g.input('a', [n, n]), g.input('b', [n, n])]), [n, n]);
    g.emit(dir);
    const s = await OrtSession.create(join(dir, MODEL_FILE), settings);
    const a = { data: randn(n * n, 1), dims: [n, n] };
    const b = { data: randn(n * n, 2), dims: [n, n] };
    const secs = await best(`MatMul ${n}^3`, 3, () => s.run({ a, b }));
    await s.dispose();
    return (2 * n ** 3) / secs / 1e9;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fileSize(p: string): number {
  return existsSync(p) ? statSync(p).size : 0;
}

const modelDir = process.env.BENCH_MODEL ?? DEFAULT_RANDOM_SD15_DIR;
if (!process.env.BENCH_MODEL && !existsSync(join(modelDir, 'unet', 'diffusion_pytorch_model.safetensors'))) {
  console.log(`writing a random SD 1.5 into ${modelDir} ...`);
  makeRandomSd15(modelDir);
}
console.log(`cores ${cpus().length}, ${describeSettings(settings)}`);
// the roofline is measured before and after the models (best of both), so a busy machine shows up as a
// low roofline rather than as an impossible fraction
let peak = await roofline();
console.log(`roofline: ${peak.toFixed(1)} GFLOP/s`);

const [loadSecs, parts] = await time(() =>
  loadParts(modelDir, {
    components: ['unet', 'vae'],
    cacheDir: join(process.cwd(), '.cache', 'graphs'),
    session: settings,
  }),
);
console.log(`load (compile or cache hit + sessions): ${loadSecs.toFixed(1)} s`);
const unet = parts.unet!;
const vae = parts.vae!;
const batch = 2;
const lh = 64;
const sample = { data: randn(batch * 4 * lh * lh, 3), dims: [batch, 4, lh, lh] };
const ehs = {
  data: randn(batch * 77 * unet.config.crossAttentionDim, 4),
  dims: [batch, 77, unet.config.crossAttentionDim],
};
const unetSecs = await best('UNet 512x512 batch 2', runs, () => unet.predict(sample, 500, ehs));
const rssAfterUnet = process.resourceUsage().maxRSS * 1024;
const latent = { data: randn(4 * lh * lh, 5), dims: [1, 4, lh, lh] };
const vaeSecs = await best('VAE decode 512x512', Math.max(1, runs - 1), () => vae.decode(latent));
peak = Math.max(peak, await roofline());
console.log(`roofline (best of before/after): ${peak.toFixed(1)} GFLOP/s`);
const uf = unetFlops(unet.config, batch, lh, lh);
console.log(
  `UNet: ${(uf / 1e9).toFixed(0)} GFLOP, ${(uf / unetSecs / 1e9).toFixed(1)} GFLOP/s = ${((100 * uf) / unetSecs / 1e9 / peak).toFixed(0)}% of roofline`,
);
const vf = vaeDecoderFlops(vae.config, 1, lh, lh);
console.log(
  `VAE decode: ${(vf / 1e9).toFixed(0)} GFLOP, ${(vf / vaeSecs / 1e9).toFixed(1)} GFLOP/s = ${((100 * vf) / vaeSecs / 1e9 / peak).toFixed(0)}% of roofline`,
);
const weights =
  fileSize(join(modelDir, 'unet', 'diffusion_pytorch_model.safetensors')) +
  fileSize(join(modelDir, 'vae', 'diffusion_pytorch_model.safetensors'));
const rss = process.resourceUsage().maxRSS * 1024;
console.log(`peak RSS after the UNet runs ${(rssAfterUnet / 2 ** 30).toFixed(2)} GiB`);
console.log(
  `peak RSS ${(rss / 2 ** 30).toFixed(2)} GiB vs UNet+VAE weights ${(weights / 2 ** 30).toFixed(2)} GiB (x${(rss / weights).toFixed(2)})`,
);
await parts.dispose();
