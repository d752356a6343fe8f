// ×4 super-resolution throughput beside the network's FLOP count and a same-run MatMul roofline on onnxruntime,
// and peak memory against image size (each size in a fresh child process, so maxRSS is that size's own peak).
//
//   npm run bench -- post-sr                 full report
//   node --import tsx bench/post-sr.bench.ts --child <variant> <side>     one measurement (internal)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../src/engine/graph/builder.ts';
import { OrtSession } from '../src/engine/ort.ts';
import type { EsrganVariant } from '../src/post/esrgan/models.ts';
import { EsrganUpscaler } from '../src/post/esrgan/upscaler.ts';
import type { RawImage } from '../src/post/types.ts';

const cacheDir = join(tmpdir(), 'atelier-bench-graphs');
const threads = Number(process.env.BENCH_THREADS ?? 0) || undefined;

function testImage(side: number): RawImage {
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const i = (y * side + x) * 3;
      data[i] = (x * 255) / side;
      data[i + 1] = (y * 255) / side;
      data[i + 2] = 128 + 100 * Math.sin((x * y) / 500);
    }
  return { data, width: side, height: side, channels: 3 };
}

/** One measurement in this process: load, warm up on one tile, then time a full tiled upscale. */
async function child(variant: EsrganVariant, side: number, withRoofline: boolean): Promise<void> {
  // The roofline is measured in the same process right before and after, so that both see the same machine load.
  const roofBefore = withRoofline ? await matmulRoofline(1024) : 0;
  const up = await EsrganUpscaler.load({ variant, cacheDir, threads });
  await up.runWhole(testImage(32));
  const img = testImage(side);
  // Resident memory after a full GC at every tile: what is really live, without garbage the GC has not
  // collected yet (which maxRSS also counts). Needs --expose-gc; the collections are excluded from the timing.
  const gc = (globalThis as { gc?: () => void }).gc;
  let liveRss = 0;
  let gcMs = 0;
  const t0 = performance.now();
  const out = await up.upscale(img, {
    onProgress: () => {
      if (!gc) return;
      const t = performance.now();
      gc();
      liveRss = Math.max(liveRss, process.memoryUsage().rss);
      gcMs += performance.now() - t;
    },
  });
  const ms = performance.now() - t0 - gcMs;
  await up.dispose();
  const roofAfter = withRoofline ? await matmulRoofline(1024) : 0;
  const res = process.resourceUsage();
  console.log(
    JSON.stringify({
      variant,
      side,
      ms,
      macsPerInputPixel: up.info.macsPerInputPixel,
      outBytes: out.data.byteLength,
      maxRssBytes: res.maxRSS * 1024,
      liveRssBytes: liveRss,
      roofline: (roofBefore + roofAfter) / 2,
      roofBefore,
      roofAfter,
    }),
  );
}

function measure(variant: EsrganVariant, side: number, withRoofline = false) {
  const r = spawnSync(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      variant,
      String(side),
      withRoofline ? 'roofline' : '',
    ],
    { encoding: 'utf8', env: process.env },
  );
  if (r.status !== 0) throw new Error(`child ${variant} ${side} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    ms: number;
    macsPerInputPixel: number;
    outBytes: number;
    maxRssBytes: number;
    liveRssBytes: number;
    roofline: number;
    roofBefore: number;
    roofAfter: number;
  };
}

/** Best GFLOP/s of an N×N·N×N MatMul on onnxruntime in this process: the dense-compute ceiling for this CPU. */
async function matmulRoofline(n: number): Promise<number> {
  const g = new GraphBuilder('matmul');
  const a = g.input('a', [n, n]);
  const b = g.input('b', [n, n]);
  g.output('c', g.op('MatMul', [a, b]), [n, n]);
  const dir = mkdtempSync(join(tmpdir(), 'matmul-'));
  mkdirSync(dir, { recursive: true });
  g.emit(dir);
  const s = await OrtSession.create(join(dir, 'model.onnx'), { intraOpThreads: threads });
  const x = Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13);
  const feeds = { a: { data: x, dims: [n, n] }, b: { data: x, dims: [n, n] } };
  await s.run(feeds);
  let best = Number.POSITIVE_INFINITY;
  const until = performance.now() + 1500;
  while (performance.now() < until) {
    const t = performance.now();
    await s.run(feeds);
    best = Math.min(best, performance.now() - t);
  }
  await s.dispose();
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

async function main(): Promise<void> {
  console.log(
    `CPU: ${cpus()[0]?.model ?? '?'} × ${cpus().length} logical; onnxruntime threads: ${threads ?? 'default'}`,
  );
  console.log(
    '\nthroughput (default tile, overlap 16, 512×512 → 2048×2048); MatMul 1024³ roofline measured in the',
  );
  console.log('same process just before and after the upscale (best of 1.5 s each):');
  console.log(
    'variant | GFLOP/input px | input MP/s | output MP/s | achieved GFLOP/s | MatMul GFLOP/s before/after | % of roofline',
  );
  for (const variant of ['slim', 'medium', 'thick'] as const) {
    const side = 512;
    const r = measure(variant, side, true);
    const roof = r.roofline;
    const inMp = (side * side) / 1e6;
    const seconds = r.ms / 1000;
    // Nominal FLOPs of the image (2 per MAC); tiling overlap makes the work actually done ~ (128/112)² higher.
    const gflop = (2 * r.macsPerInputPixel * side * side) / 1e9;
    console.log(
      `${variant} | ${((2 * r.macsPerInputPixel) / 1e9).toExponential(3)} | ${(inMp / seconds).toFixed(4)} | ${((16 * inMp) / seconds).toFixed(3)} | ${(gflop / seconds).toFixed(1)} | ${r.roofBefore.toFixed(1)}/${r.roofAfter.toFixed(1)} | ${((100 * gflop) / seconds / roof).toFixed(0)}%`,
    );
  }

  console.log('\npeak memory vs image size (fresh process each; input and output images included):');
  console.log(
    'variant | input side | output MB | max RSS MB | live RSS after GC MB | live − output MB | seconds',
  );
  for (const [variant, sides] of [
    ['slim', [256, 512, 1024]],
    ['thick', [192, 384]],
  ] as const) {
    for (const side of sides) {
      const r = measure(variant, side);
      const mb = (b: number) => (b / 2 ** 20).toFixed(0);
      console.log(
        `${variant} | ${side} | ${mb(r.outBytes)} | ${mb(r.maxRssBytes)} | ${mb(r.liveRssBytes)} | ${mb(r.liveRssBytes - r.outBytes)} | ${(r.ms / 1000).toFixed(1)}`,
      );
    }
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3] as EsrganVariant, Number(process.argv[4]), process.argv[5] === 'roofline');
} else await main();
