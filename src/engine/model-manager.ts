// Loaded base models, shared by every prompt: one SdModel per (base model, LoRA set), built once (concurrent
// requests for the same key await the same load), reused across prompts, and evicted least-recently-used when
// loading another would pass the memory budget. Models in use (leased) are never evicted; a lease is released
// when the generation ends.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadOptions, loadModel, loadParts } from './load.ts';
import type { SdModel } from './pipeline/types.ts';
import {
  defaultSamplerFor,
  type SamplerName,
  type SchedulerConfig,
  SD15_SCHEDULER_CONFIG,
  schedulerConfigFromDiffusers,
} from './schedulers/index.ts';
import { ClipTokenizer } from './tokenizer/index.ts';

/** Where a base model's files are and how to run it. */
export interface ModelSpec {
  /** stable identity (e.g. the models-dir folder name) */
  key: string;
  /** diffusers folder or single-file checkpoint */
  path: string;
  /** folder with vocab.json + merges.txt when the checkpoint has none (single-file checkpoints) */
  tokenizerDir?: string;
  /** a 9-channel inpainting UNet (diffusers `unet/` folder or its parent) used for masks */
  inpaintUnetPath?: string;
  defaultSampler?: SamplerName;
  defaultSteps?: number;
}

export interface LoadedSdModel extends SdModel {
  dispose(): Promise<void>;
}

/** Steps used when a prompt says 0 and the manifest names none: 4 for consistency models, else 30. */
export function defaultStepsFor(sampler: SamplerName): number {
  return sampler === 'lcm' || sampler === 'tcd' ? 4 : 30;
}

export function readSchedulerConfig(path: string): SchedulerConfig {
  const file = join(path, 'scheduler', 'scheduler_config.json');
  if (existsSync(file)) return schedulerConfigFromDiffusers(JSON.parse(readFileSync(file, 'utf8')));
  return SD15_SCHEDULER_CONFIG;
}

export function readTokenizer(spec: ModelSpec): ClipTokenizer {
  const candidates = [join(spec.path, 'tokenizer'), spec.tokenizerDir].filter((d): d is string => !!d);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt')))
      return ClipTokenizer.fromFolder(dir);
  }
  throw new Error(
    `${spec.key}: no CLIP vocabulary (vocab.json + merges.txt) in ${candidates.join(' or ')}; install the model with its tokenizer`,
  );
}

/** Opens every session of a base model (graphs come from the on-disk cache when already compiled). */
export async function openSdModel(spec: ModelSpec, load: LoadOptions = {}): Promise<LoadedSdModel> {
  const tokenizer = readTokenizer(spec);
  const scheduler = readSchedulerConfig(statSync(spec.path).isDirectory() ? spec.path : '');
  const parts = await loadModel(spec.path, load);
  let inpaintUnet: SdModel['unet'] | undefined;
  if (spec.inpaintUnetPath) {
    try {
      inpaintUnet = (await loadParts(spec.inpaintUnetPath, { ...load, components: ['unet'] })).unet;
    } catch (e) {
      await parts.dispose();
      throw e;
    }
  }
  const defaultSampler = spec.defaultSampler ?? defaultSamplerFor(scheduler);
  return {
    clip: parts.clip,
    unet: parts.unet,
    vae: parts.vae,
    inpaintUnet,
    tokenizer,
    scheduler,
    defaultSampler,
    defaultSteps: spec.defaultSteps ?? defaultStepsFor(defaultSampler),
    async dispose() {
      await Promise.all([parts.dispose(), inpaintUnet?.dispose()]);
    },
  };
}
