// Cost of the cheap post stages at a typical upscaled size (2048×2048 = 512² generated ×4): colour grading,
// film grain, encoding and thumbnails, in megapixels per second (best of 5 runs after one warm-up).
import { applyColorGrade, COLOR_GRADING_PRESETS } from '../src/post/color-grading.ts';
import { encodeImage, makeThumbnail } from '../src/post/encode.ts';
import { applyFilmGrain } from '../src/post/film-grain.ts';
import type { RawImage } from '../src/post/types.ts';

const side = Number(process.env.BENCH_SIDE ?? 2048);
const data = new Uint8Array(side * side * 3);
for (let y = 0; y < side; y++)
  for (let x = 0; x < side; x++) {
    const i = (y * side + x) * 3;
    data[i] = (x * 255) / side;
    data[i + 1] = (y * 255) / side;
    data[i + 2] = 128 + 100 * Math.sin((x * y) / 5000);
  }
const img: RawImage = { data, width: side, height: side, channels: 3 };
const mp = (side * side) / 1e6;

async function time(label: string, fn: () => unknown): Promise<void> {
  await fn();
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k < 5; k++) {
    const t = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t);
  }
  console.log(
    `${label.padEnd(28)} ${best.toFixed(0).padStart(6)} ms  ${(mp / (best / 1000)).toFixed(1).padStart(6)} MP/s`,
  );
}

console.log(`image ${side}×${side} RGB (${mp.toFixed(2)} MP)`);
for (const p of COLOR_GRADING_PRESETS) await time(`color_grading ${p}`, () => applyColorGrade(img, p));
await time('film_grain', () => applyFilmGrain(img, 1234));
await time('encode jpeg q90', () => encodeImage(img));
await time('encode webp q90', () => encodeImage(img, { format: 'webp' }));
await time('encode png', () => encodeImage(img, { format: 'png' }));
await time('thumbnail 256 webp', () => makeThumbnail(img));
