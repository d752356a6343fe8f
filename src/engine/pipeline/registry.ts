// Task -> pipeline, and which task a request needs: a mask means inpainting, an input image alone img2img,
// neither txt2img. The default model of every task is the prompt's base model (see sd-generator.ts).

import { img2img } from './img2img.ts';
import { inpaint } from './inpaint.ts';
import { txt2img } from './txt2img.ts';
import type { GenerateOptions, PipelineOutput, SdModel } from './types.ts';

export type Task = 'txt2img' | 'img2img' | 'inpaint';

export type Pipeline = (model: SdModel, opts: GenerateOptions) => Promise<PipelineOutput>;

export const PIPELINES: Record<Task, Pipeline> = { txt2img, img2img, inpaint };

export function taskFor(opts: Pick<GenerateOptions, 'initImage' | 'mask'>): Task {
  if (opts.mask) {
    if (!opts.initImage) throw new Error('a mask needs an input image');
    return 'inpaint';
  }
  return opts.initImage ? 'img2img' : 'txt2img';
}

export function runPipeline(model: SdModel, opts: GenerateOptions): Promise<PipelineOutput> {
  return PIPELINES[taskFor(opts)](model, opts);
}
