// Per-operator profile of one UNet evaluation or one VAE decode on the random full-size SD 1.5
// (scripts/make-random-sd15.ts): runs the model once to warm up, once more profiled (onnxruntime's
// enableProfiling), and prints where the time of the profiled run went, by operator type and by node.
//
// Also prints resident memory after session creation and the peak, against the component's weights.
//
//   npx tsx scripts/profile-engine.ts unet|vae [latentSide=64] [batch=1]
//   npx tsx scripts/profile-engine.ts sr [tileSide=128] [variant=thick]    one ESRGAN x4 tile (post stage)
// Env: the session settings of bench/session-env.ts, BENCH_MODEL (a diffusers folder), BENCH_PROFILE=0 (time
// and measure memory without the profiler).

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchSessionSettings, describeSettings } from '../bench/session-env.ts';
import { loadParts } from '../src/engine/load.ts';
import { OrtSession } from '../src/engine/ort.ts';
import type { EsrganVariant } from '../src/post/esrgan/models.ts';
import { DEFAULT_OPTIMIZATION, EsrganUpscaler } from '../src/post/esrgan/upscaler.ts';
import { DEFAULT_RANDOM_SD15_DIR } from './make-random-sd15.ts';

export interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; provider?: string };
}

export interface OpSummary {
  key: string;
  ms: number;
  count: number;
}

/** Node kernel times of the last `model_run` in an onnxruntime profile, summed by operator type and by node. */
export function summariseProfile(events: ProfileEvent[]): {
  runMs: number;
  byType: OpSummary[];
  byNode: OpSummary[];
} {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs.at(-1);
  if (!last) throw new Error('profile has no model_run event');
  const nodes = events.filter(
    (e) =>
      e.cat === 'Node' &&
      e.name.endsWith('_kernel_time') &&
      e.ts >= last.ts &&
      e.ts + e.dur <= last.ts + last.dur,
  );
  const sum = (keyOf: (e: ProfileEvent) => string): OpSummary[] => {
    const m = new Map<string, OpSummary>();
    for (const e of nodes) {
      const key = keyOf(e);
      const s = m.get(key) ?? { key, ms: 0, count: 0 };
      s.ms += e.dur / 1000;
      s.count++;
      m.set(key, s);
    }
    return [...m.values()].sort((a, b) => b.ms - a.ms);
  };
  return {
    runMs: last.dur / 1000,
    byType: sum((e) => e.args?.op_name ?? '?'),
    byNode: sum((e) => `${e.name.replace(/_kernel_time$/, '')} (${e.args?.op_name ?? '?'})`),
  };
}

export function printSummary(title: string, s: ReturnType<typeof summariseProfile>, top = 15): void {
  const nodeMs = s.byType.reduce((a, o) => a + o.ms, 0);
  console.log(`${title}: run ${(s.runMs / 1000).toFixed(2)} s, kernels ${(nodeMs / 1000).toFixed(2)} s`);
  console.log('op type | ms | % of kernel time | nodes');
  for (const o of s.byType.slice(0, top))
    console.log(`${o.key} | ${o.ms.toFixed(0)} | ${((100 * o.ms) / nodeMs).toFixed(1)} | ${o.count}`);
  console.log('\nslowest nodes:');
  for (const o of s.byNode.slice(0, top)) console.log(`${o.key} | ${o.ms.toFixed(0)} ms`);
}

export function readProfile(dir: string): ProfileEvent[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  if (!files.length) throw new Error(`no profile written in ${dir}`);
  return JSON.parse(readFileSync(join(dir, files.sort().at(-1)!), 'utf8')) as ProfileEvent[];
}

function randn(n: number, seed: number): Float32Array {
  let x = seed | 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) / 2147483648 - 1;
  }
  return out;
}

/** One ESRGAN tile through a profiled session on the upscaler's compiled graph and settings. */
async function profileSr(side: number, variant: EsrganVariant): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-profile-'));
  const settings = benchSessionSettings();
  const up = await EsrganUpscaler.load({ variant, cacheDir: join(process.cwd(), '.cache', 'graphs') });
  await up.dispose();
  const s = await OrtSession.create(up.modelPath, {
    ...settings,
    optimization: settings.optimization ?? DEFAULT_OPTIMIZATION,
    profileFilePrefix: join(dir, 'sr'),
  });
  try {
    const image = { data: randn(3 * side * side, 7).map((v) => 0.5 + 0.4 * v), dims: [1, 3, side, side] };
    await s.run({ image });
    const t = performance.now();
    await s.run({ image });
    const secs = (performance.now() - t) / 1000;
    const gflop = (2 * up.info.macsPerInputPixel * side * side) / 1e9;
    console.log(
      `${variant} tile ${side}: ${gflop.toFixed(1)} GFLOP in ${secs.toFixed(2)} s = ${(gflop / secs).toFixed(1)} GFLOP/s`,
    );
    await s.dispose();
    printSummary(`sr ${variant} tile ${side}`, summariseProfile(readProfile(dir)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const what = process.argv[2] ?? 'unet';
  if (what === 'sr') {
    await profileSr(Number(process.argv[3] ?? 128), (process.argv[4] ?? 'thick') as EsrganVariant);
    return;
  }
  if (what !== 'unet' && what !== 'vae')
    throw new Error('usage: profile-engine.ts unet|vae [latentSide] [batch]');
  const side = Number(process.argv[3] ?? 64);
  const batch = Number(process.argv[4] ?? 1);
  const dir = mkdtempSync(join(tmpdir(), 'atelier-profile-'));
  const profile = process.env.BENCH_PROFILE !== '0';
  const settings = benchSessionSettings();
  console.log(describeSettings(settings));
  const modelDir = process.env.BENCH_MODEL ?? DEFAULT_RANDOM_SD15_DIR;
  const weights = statSync(join(modelDir, what, 'diffusion_pytorch_model.safetensors')).size;
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
  const t0 = performance.now();
  const parts = await loadParts(modelDir, {
    components: [what],
    cacheDir: join(process.cwd(), '.cache', 'graphs'),
    session: { ...settings, profileFilePrefix: profile ? join(dir, what) : undefined },
  });
  if (what === 'vae') await parts.vae!.decode({ data: new Float32Array(4 * 8 * 8), dims: [1, 4, 8, 8] });
  console.log(
    `load ${((performance.now() - t0) / 1000).toFixed(1)} s; RSS after session creation ${gib(process.memoryUsage().rss)}`,
  );
  try {
    const run =
      what === 'unet'
        ? () => {
            const u = parts.unet!;
            const d = u.config.crossAttentionDim;
            return u.predict({ data: randn(batch * 4 * side * side, 3), dims: [batch, 4, side, side] }, 500, {
              data: randn(batch * 77 * d, 4),
              dims: [batch, 77, d],
            });
          }
        : () => parts.vae!.decode({ data: randn(batch * 4 * side * side, 5), dims: [batch, 4, side, side] });
    await run();
    const t1 = performance.now();
    await run();
    const secs = (performance.now() - t1) / 1000;
    const peak = process.resourceUsage().maxRSS * 1024;
    console.log(
      `run ${secs.toFixed(2)} s; RSS now ${gib(process.memoryUsage().rss)}, peak ${gib(peak)} vs weights ${gib(weights)} (x${(peak / weights).toFixed(2)})`,
    );
    await parts.dispose(); // releasing a profiled session writes its profile
    if (profile)
      printSummary(`${what} latent ${side}x${side} batch ${batch}`, summariseProfile(readProfile(dir)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
