import {
  type Conditioning,
  encodeConditioning,
  type GenerateOptions,
  PIPELINES,
  type SdModel,
} from '../engine/pipeline/index.ts';
import type { Img2ImgRequest, Img2ImgRunner } from './hires-fix.ts';
import { assertImageShape, type RawImage, toFloatImage } from './types.ts';

/**
 * The engine's img2img pipeline as the hires-fix stage's `Img2ImgRunner`: the prompt's text, negative prompt,
 * steps, CFG and sampler are reused for every tile; the text is encoded once for the whole pass.
 * Tiles whose sides are not multiples of 64 are padded by edge replication and cropped back: the VAE divides
 * by 8 and the SD 1.5 UNet halves the latent three more times, so 8·2³ = 64 is the size every graph accepts.
 */
export type HiresPromptSettings = Pick<
  GenerateOptions,
  'text' | 'negativePrompt' | 'steps' | 'cfgScale' | 'sampler' | 'useLpw'
>;

const SIZE_MULTIPLE = 64;

/** RGB HWC float image padded to (pw, ph) by repeating the last column and row. */
function padEdge(img: RawImage & { data: Float32Array }, pw: number, ph: number): Float32Array {
  const out = new Float32Array(pw * ph * 3);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(y, img.height - 1);
    for (let x = 0; x < pw; x++) {
      const sx = Math.min(x, img.width - 1);
      const s = (sy * img.width + sx) * img.channels;
      out.set(img.data.subarray(s, s + 3), (y * pw + x) * 3);
    }
  }
  return out;
}

export function engineImg2ImgRunner(model: SdModel, prompt: HiresPromptSettings): Img2ImgRunner {
  let conditioning: Promise<Conditioning> | null = null;
  return {
    async img2img(req: Img2ImgRequest): Promise<RawImage> {
      assertImageShape(req.image);
      if (req.image.channels !== 3)
        throw new RangeError(`hires fix needs RGB tiles, got ${req.image.channels}`);
      conditioning ??= encodeConditioning(model, prompt.text, prompt.negativePrompt, prompt.useLpw);
      const src = toFloatImage(req.image);
      const { width: w, height: h } = src;
      const pw = Math.ceil(w / SIZE_MULTIPLE) * SIZE_MULTIPLE;
      const ph = Math.ceil(h / SIZE_MULTIPLE) * SIZE_MULTIPLE;
      const out = await PIPELINES.img2img(model, {
        ...prompt,
        numImages: 1,
        width: pw,
        height: ph,
        seed: req.seed,
        initImage: { data: padEdge(src, pw, ph), dims: [1, ph, pw, 3] },
        denoisingStrength: req.strength,
        conditioning: await conditioning,
        signal: req.signal,
        onProgress: (p) => {
          if (p.phase === 'denoising') req.onStep?.(p.step, p.total);
        },
      });
      const data = new Float32Array(w * h * 3);
      for (let y = 0; y < h; y++) data.set(out.images.data.subarray(y * pw * 3, (y * pw + w) * 3), y * w * 3);
      return { data, width: w, height: h, channels: 3 };
    },
  };
}
