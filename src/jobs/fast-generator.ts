// branch=fast image generator — a MOCK, clearly labelled: it produces placeholder JPEGs of the requested size
// and count, each showing a diagonal stripe pattern and the word "MOCK" in block letters (drawn into a pixel
// buffer, so no font is needed), tinted by the seed so different seeds give different images. No model is run.
// `color_grading` and `film_grain` are cheap real image operations, so they are applied to the mock images (the
// same src/post stages as the real branch, image i seeded seed + i); every other parameter is a mock note.
import sharp from 'sharp';
import { DEFAULT_CFG_SCALE, DEFAULT_SCHEDULER, DEFAULT_STEPS } from '../domain/generation.ts';
import type {
  GenerationRequest,
  GenerationResult,
  Generator,
  GeneratorCapabilities,
  LoraFileInfo,
  RunOptions,
} from '../domain/ports.ts';
import { LoraRejectedError, throwIfAborted } from '../domain/ports.ts';
import { checkLoraFile, LoraCheckError } from '../engine/checkpoint/lora-check.ts';
import { runPostStages } from '../post/index.ts';

/** Prompt fields the mock really applies (to its placeholder images). */
export const FAST_FEATURES = ['color_grading', 'film_grain'] as const;

// 5×5 block glyphs, one string per row.
const GLYPHS: Record<string, string[]> = {
  M: ['1...1', '11.11', '1.1.1', '1...1', '1...1'],
  O: ['.111.', '1...1', '1...1', '1...1', '.111.'],
  C: ['.1111', '1....', '1....', '1....', '.1111'],
  K: ['1..1.', '1.1..', '11...', '1.1..', '1..1.'],
};

/** A deterministic hue in [0, 360) from seed and image index (Knuth multiplicative hash). */
export function mockHue(seed: number, index: number): number {
  return ((((seed + index * 2654435761) >>> 0) % 360) + 360) % 360;
}

/** HSL → RGB (0–255), for the seed-tinted background. */
function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
}

/**
 * Raw RGB pixels of a mock image: light diagonal stripes in the seed's hue, and "MOCK" in near-black 5×5 block
 * letters centred at up to 80% of the width. Drawn directly into a buffer (no SVG or font rendering).
 */
export function mockPixels(width: number, height: number, hue: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  const light = hslToRgb(hue, 0.45, 0.78);
  const dark = hslToRgb(hue, 0.45, 0.62);
  const stripe = Math.max(8, Math.round(Math.min(width, height) / 16));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = Math.floor((x + y) / stripe) % 2 ? dark : light;
      const i = (y * width + x) * 3;
      px[i] = c[0];
      px[i + 1] = c[1];
      px[i + 2] = c[2];
    }
  }
  const cols = 4 * 5 + 3;
  const cell = Math.max(1, Math.floor(Math.min((width * 0.8) / cols, (height * 0.4) / 5)));
  const x0 = Math.floor((width - cols * cell) / 2);
  const y0 = Math.floor((height - 5 * cell) / 2);
  [...'MOCK'].forEach((ch, li) => {
    GLYPHS[ch].forEach((row, r) => {
      [...row].forEach((bit, c) => {
        if (bit !== '1') return;
        for (let y = y0 + r * cell; y < y0 + (r + 1) * cell; y++)
          px.fill(
            17,
            (y * width + x0 + (li * 6 + c) * cell) * 3,
            (y * width + x0 + (li * 6 + c + 1) * cell) * 3,
          );
      });
    });
  });
  return px;
}

export class FastMockGenerator implements Generator {
  readonly name = 'fast (mock generator)';

  capabilities(): GeneratorCapabilities {
    // The mock honours count, size, seed, color_grading and film_grain; every other parameter is recorded as a
    // note (mock: true).
    return { branches: ['fast'], schedulers: [], controlnets: [], features: [...FAST_FEATURES], mock: true };
  }

  /**
   * LoRA import on the mock branch: the file must be a well-formed LoRA (header, format, matrix shapes). With no
   * model there is no architecture to match, so any base is accepted; the mock never applies the weights.
   */
  async checkLora(data: Buffer, _baseTuneId: number | null, field: string): Promise<LoraFileInfo> {
    try {
      return checkLoraFile(data, field);
    } catch (e) {
      if (e instanceof LoraCheckError) throw new LoraRejectedError(field, e.message);
      throw e;
    }
  }

  async generate(req: GenerationRequest, opts: RunOptions): Promise<GenerationResult> {
    const images = [];
    for (let i = 0; i < req.numImages; i++) {
      throwIfAborted(opts.signal);
      const mock = mockPixels(req.width, req.height, mockHue(req.seed, i));
      const post = await runPostStages(
        { data: mock, width: req.width, height: req.height, channels: 3 },
        { seed: req.seed + i, color_grading: req.colorGrading, film_grain: req.filmGrain },
        { signal: opts.signal },
      );
      const pixels = post.data;
      const data = await sharp(pixels, { raw: { width: req.width, height: req.height, channels: 3 } })
        .jpeg({ quality: 80 })
        .toBuffer();
      images.push({ data, contentType: 'image/jpeg' as const, width: req.width, height: req.height });
      opts.onProgress?.({ phase: 'mock', step: i + 1, total: req.numImages });
    }
    const applied = [req.colorGrading && 'color_grading', req.filmGrain && 'film_grain'].filter(Boolean);
    return {
      images,
      notes: [
        'mock: placeholder images from branch=fast, no model was run',
        ...(applied.length ? [`mock: ${applied.join(' and ')} applied to the placeholder images`] : []),
      ],
      // no sampler runs: the defaults a real model would use are reported, so the prompt shows resolved values
      resolved: {
        steps: req.steps || DEFAULT_STEPS,
        scheduler: req.scheduler ?? DEFAULT_SCHEDULER,
        cfgScale: req.cfgScale ?? DEFAULT_CFG_SCALE,
      },
    };
  }
}
