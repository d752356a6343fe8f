// branch=fast image generator — a MOCK, clearly labelled: it produces placeholder JPEGs of the requested size
// and count, each showing a diagonal stripe pattern and the word "MOCK" in block letters (drawn as rectangles, so
// no font is needed), tinted by the seed so different seeds give different images. No model is run.
import sharp from 'sharp';
import type {
  GenerationRequest,
  GenerationResult,
  Generator,
  GeneratorCapabilities,
  RunOptions,
} from '../domain/ports.ts';
import { throwIfAborted } from '../domain/ports.ts';

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

export function mockSvg(width: number, height: number, hue: number, caption: string): string {
  const cols = 4 * 5 + 3;
  const cell = Math.max(1, Math.floor(Math.min((width * 0.8) / cols, (height * 0.4) / 5)));
  const x0 = Math.floor((width - cols * cell) / 2);
  const y0 = Math.floor((height - 5 * cell) / 2);
  const rects: string[] = [];
  [...'MOCK'].forEach((ch, li) => {
    GLYPHS[ch].forEach((row, r) => {
      [...row].forEach((bit, c) => {
        if (bit === '1')
          rects.push(
            `<rect x="${x0 + (li * 6 + c) * cell}" y="${y0 + r * cell}" width="${cell}" height="${cell}"/>`,
          );
      });
    });
  });
  const stripe = Math.max(8, Math.round(Math.min(width, height) / 16));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
<defs><pattern id="s" width="${stripe * 2}" height="${stripe * 2}" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="${stripe}" height="${stripe * 2}" fill="hsl(${hue},45%,62%)"/></pattern></defs>
<rect width="100%" height="100%" fill="hsl(${hue},45%,78%)"/><rect width="100%" height="100%" fill="url(#s)"/>
<g fill="#111">${rects.join('')}</g><title>${caption}</title></svg>`;
}

export class FastMockGenerator implements Generator {
  readonly name = 'fast (mock generator)';

  capabilities(): GeneratorCapabilities {
    // The mock honours count, size and seed only; every other parameter is recorded as a note (mock: true).
    return { branches: ['fast'], schedulers: [], controlnets: [], features: [], mock: true };
  }

  async generate(req: GenerationRequest, opts: RunOptions): Promise<GenerationResult> {
    const images = [];
    for (let i = 0; i < req.numImages; i++) {
      throwIfAborted(opts.signal);
      const svg = mockSvg(req.width, req.height, mockHue(req.seed, i), `MOCK seed=${req.seed} #${i + 1}`);
      const data = await sharp(Buffer.from(svg))
        .resize(req.width, req.height)
        .jpeg({ quality: 80 })
        .toBuffer();
      images.push({ data, contentType: 'image/jpeg' as const, width: req.width, height: req.height });
      opts.onProgress?.({ phase: 'mock', step: i + 1, total: req.numImages });
    }
    return { images, notes: ['mock: placeholder images from branch=fast, no model was run'] };
  }
}
