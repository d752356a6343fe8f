// Seconds per 512x512 image through the whole pipeline on the full-size random-weight SD 1.5 (written by
// scripts/make-random-sd15.ts on first use): 25-step euler with guidance (cfg 7.5), 4-step lcm (cfg 1) and
// 1-step euler_a (cfg 0), beside a same-run MatMul roofline; time inside the networks (text encoder, UNet, VAE)
// vs outside them (tokenize, schedule, CFG combine, decode to 8-bit and JPEG) as a fraction of the total;
// and a second acquisition of the same base model (nothing rebuilt or reloaded).
// Env: BENCH_CASES (comma list of one,lcm4,euler25,lora; default all), BENCH_THREADS (intra-op threads, default all
//      cores), BENCH_OPT (session optimisation, default extended), BENCH_MODEL (a diffusers folder).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_RANDOM_SD15_DIR, makeRandomSd15 } from '../scripts/make-random-sd15.ts';
import { GraphBuilder, MODEL_FILE } from '../src/engine/graph/builder.ts';
import { ModelManager } from '../src/engine/model-manager.ts';
import { unetFlops } from '../src/engine/models/unet.ts';
import { vaeDecoderFlops } from '../src/engine/models/vae.ts';
import { type OptimizationLevel, OrtSession, type SessionSettings } from '../src/engine/ort.ts';
import { encodeImage, imageBytes, PIPELINES } from '../src/engine/pipeline/index.ts';
import type { SdModel } from '../src/engine/pipeline/types.ts';
import type { SamplerName } from '../src/engine/schedulers/index.ts';

const threads = Number(process.env.BENCH_THREADS ?? 0) || undefined;
const optimization = (process.env.BENCH_OPT ?? 'extended') as OptimizationLevel;
const settings: SessionSettings = { intraOpThreads: threads, optimization };
const modelDir = process.env.BENCH_MODEL ?? DEFAULT_RANDOM_SD15_DIR;
const tokenizerDir = resolve(process.cwd(), '..', 'shared', 'fixtures', 'clip-tokenizer');

interface Case {
  id: string;
  sampler: SamplerName;
  steps: number;
  cfg: number;
}
const CASES: Case[] = [
  { id: 'one', sampler: 'euler_a', steps: 1, cfg: 0 },
  { id: 'lcm4', sampler: 'lcm', steps: 4, cfg: 1 },
  { id: 'euler25', sampler: 'euler', steps: 25, cfg: 7.5 },
];
const wanted = (process.env.BENCH_CASES ?? [...CASES.map((c) => c.id), 'lora'].join(',')).split(',');

const secs = (t0: number) => (performance.now() - t0) / 1000;

async function roofline(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-roofline-'));
  try {
    const n = 2048;
    const g = new GraphBuilder('roofline');
    g.output('c', g.op('MatMul', [g.input('a', [n, n]), g.input('b', [n, n])]), [n, n]);
    g.emit(dir);
    const s = await OrtSession.create(join(dir, MODEL_FILE), settings);
    const a = { data: new Float32Array(n * n).fill(0.5), dims: [n, n] };
    const b = { data: new Float32Array(n * n).fill(0.25), dims: [n, n] };
    await s.run({ a, b });
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await s.run({ a, b });
      best = Math.min(best, secs(t0));
    }
    await s.dispose();
    return (2 * n ** 3) / best / 1e9;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The model with every network call timed into `acc`. */
function timed(model: SdModel, acc: Record<'clip' | 'unet' | 'vae', number>): SdModel {
  const wrap = <T extends object>(obj: T, method: string, key: keyof typeof acc): T => {
    const o = Object.create(obj) as Record<string, unknown>;
    const orig = (obj as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
    o[method] = async (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return await orig.apply(obj, args);
      } finally {
        acc[key] += secs(t0);
      }
    };
    return o as T;
  };
  return {
    ...model,
    clip: wrap(model.clip, 'encode', 'clip'),
    unet: wrap(model.unet, 'predict', 'unet'),
    vae: wrap(wrap(model.vae, 'decode', 'vae'), 'encode', 'vae'),
  };
}

if (!process.env.BENCH_MODEL && !existsSync(join(modelDir, 'unet', 'diffusion_pytorch_model.safetensors'))) {
  console.log(`writing a random SD 1.5 into ${modelDir} ...`);
  makeRandomSd15(modelDir);
}
console.log(`cores ${cpus().length}, intra-op threads ${threads ?? 'default'}, optimization ${optimization}`);
const peak = await roofline();
console.log(`roofline (MatMul 2048^3): ${peak.toFixed(1)} GFLOP/s`);

const manager = new ModelManager({ session: settings, cacheDir: join(process.cwd(), '.cache', 'graphs') });
const spec = { key: 'random-sd15', path: modelDir, tokenizerDir };
let t0 = performance.now();
const first = await manager.acquire(spec);
console.log(`first acquisition (graph cache + sessions): ${secs(t0).toFixed(1)} s`);
first.release();

for (const c of CASES.filter((x) => wanted.includes(x.id))) {
  t0 = performance.now();
  const lease = await manager.acquire(spec);
  const acquire = secs(t0);
  const acc = { clip: 0, unet: 0, vae: 0 };
  const start = performance.now();
  const out = await PIPELINES.txt2img(timed(lease.model, acc), {
    text: 'a photo of an astronaut riding a horse on mars',
    negativePrompt: 'blurry, low quality',
    numImages: 1,
    width: 512,
    height: 512,
    seed: 42,
    steps: c.steps,
    cfgScale: c.cfg,
    sampler: c.sampler,
  });
  const jpeg = await encodeImage(imageBytes(out.images, 0), 512, 512, 'jpeg');
  const total = secs(start);
  lease.release();
  const nets = acc.clip + acc.unet + acc.vae;
  const calls = c.steps * (c.cfg > 1 ? 2 : 1);
  const uf = unetFlops(lease.model.unet.config, 1, 64, 64) * calls;
  const vf = vaeDecoderFlops(lease.model.vae.config, 1, 64, 64);
  console.log(
    `${c.id} (${c.sampler}, ${c.steps} steps, cfg ${c.cfg}): ${total.toFixed(1)} s/image; ` +
      `acquire ${(acquire * 1000).toFixed(1)} ms (reused: ${lease.reused}); ` +
      `text encoder ${acc.clip.toFixed(2)} s, UNet ${acc.unet.toFixed(1)} s (${(uf / acc.unet / 1e9).toFixed(1)} GFLOP/s = ` +
      `${((100 * uf) / acc.unet / 1e9 / peak).toFixed(0)}% of roofline), VAE decode ${acc.vae.toFixed(1)} s ` +
      `(${((100 * vf) / acc.vae / 1e9 / peak).toFixed(0)}% of roofline); outside the networks ` +
      `${(total - nets).toFixed(3)} s = ${((100 * (total - nets)) / total).toFixed(2)}% of the total; JPEG ${jpeg.length} bytes; ` +
      `UNet + VAE at the roofline would take ${((uf + vf) / peak / 1e9).toFixed(1)} s`,
  );
}
if (wanted.includes('lora')) {
  // merge mode cost: a rank-8 kohya LoRA on every attention projection of the UNet (128 layers) and every text
  // encoder q/k/v/out projection; first use merges + writes the patched weights copy + opens sessions, the
  // second use of the same set finds the sessions loaded.
  const file = join(mkdtempSync(join(tmpdir(), 'atelier-bench-lora-')), 'lora.safetensors');
  const { openCheckpoint } = await import('../src/engine/checkpoint/open.ts');
  const { writeSafetensors } = await import('../src/engine/checkpoint/safetensors.ts');
  const ck = openCheckpoint(modelDir);
  const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = [];
  let seed = 1;
  const rnd = (n: number) =>
    Float32Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return (seed / 2147483648 - 0.5) * 0.02;
    });
  for (const [prefix, src, re] of [
    ['lora_unet_', ck.unet!.source, /attn[12]\.(to_q|to_k|to_v|to_out\.0)\.weight$/],
    ['lora_te_', ck.text_encoder!.source, /self_attn\.(q|k|v|out)_proj\.weight$/],
  ] as const) {
    for (const n of src.names().filter((x) => re.test(x))) {
      const [o, i] = src.shape(n);
      const base = `${prefix}${n.slice(0, -'.weight'.length).replaceAll('.', '_')}`;
      tensors.push({ name: `${base}.lora_down.weight`, dtype: 'F32', shape: [8, i], data: rnd(8 * i) });
      tensors.push({ name: `${base}.lora_up.weight`, dtype: 'F32', shape: [o, 8], data: rnd(o * 8) });
      tensors.push({ name: `${base}.alpha`, dtype: 'F32', shape: [], data: Float32Array.of(8) });
    }
  }
  ck.close();
  writeSafetensors(file, tensors);
  const loras = [{ id: `bench-${Date.now()}`, path: file, scale: 0.8 }];
  t0 = performance.now();
  const a = await manager.acquire(spec, loras);
  const firstLora = secs(t0);
  a.release();
  t0 = performance.now();
  const b = await manager.acquire(spec, loras);
  const again = secs(t0);
  b.release();
  console.log(
    `LoRA (${tensors.length / 3} layers, rank 8), merge mode: first use ${firstLora.toFixed(1)} s ` +
      `(merge + patched weights copy + sessions), same set again ${(again * 1000).toFixed(1)} ms (reused: ${b.reused})`,
  );
  rmSync(file, { force: true });
  // the merged copy is keyed by this run's unique id and would never be used again
  const { readdirSync, readFileSync } = await import('node:fs');
  const graphs = join(process.cwd(), '.cache', 'graphs');
  for (const d of readdirSync(graphs).filter((n) => n.includes('-lora-'))) {
    const meta = join(graphs, d, 'lora.json');
    if (existsSync(meta) && readFileSync(meta, 'utf8').includes(loras[0].id))
      rmSync(join(graphs, d), { recursive: true, force: true });
  }
}
const s = manager.stats();
console.log(
  `model loads: ${s.baseLoads} (every case after the first acquisition reused the loaded sessions)`,
);
await manager.close();
