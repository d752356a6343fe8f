// From validated prompt parameters to a fully resolved GenerationRequest, and the capability check that decides
// whether an implementation can honour them (API.md §1: never silently drop a known parameter).

import { checkPostParams, PostStageUnavailableError } from '../post/index.ts';
import type { Engines, GenerationRequest, GenerationTune, GeneratorCapabilities } from './ports.ts';
import { generatorFor } from './ports.ts';
import { isDefaultValue, MAX_SEED } from './prompt-schema.ts';
import { fillCharacteristics, parseTuneTags } from './prompt-text.ts';
import { applyStyle } from './styles.ts';
import type { Scheduler, Style } from './vocab.ts';

export const DEFAULT_NUM_IMAGES = 4;
export const DEFAULT_STEPS = 30;
export const DEFAULT_CFG_SCALE = 7.5;
export const DEFAULT_SCHEDULER: Scheduler = 'dpm++2m_karras';
export const DEFAULT_DENOISING_STRENGTH = 0.8;

/** Native square resolution of each branch. */
export function nativeSize(branch: string): number {
  return branch === 'sdxl1' || branch === 'flux1' ? 1024 : 512;
}

const round8 = (x: number) => Math.max(64, Math.round(x / 8) * 8);

/** w/h win; else aspect_ratio at the branch's native area; else native square. */
export function resolveSize(p: Record<string, unknown>, branch: string): { width: number; height: number } {
  const base = nativeSize(branch);
  const w = p.w as number | undefined;
  const h = p.h as number | undefined;
  if (w && h) return { width: w, height: h };
  if (typeof p.aspect_ratio === 'string') {
    const [a, b] = p.aspect_ratio.split(':').map(Number);
    const scale = Math.sqrt((base * base) / (a * b));
    return { width: round8(a * scale), height: round8(b * scale) };
  }
  return { width: w ?? base, height: h ?? base };
}

/** Prompt fields whose non-default value needs a matching capability. */
export const FEATURE_FIELDS = [
  'negative_prompt',
  'cfg_scale',
  'steps',
  'use_lpw',
  'super_resolution',
  'inpaint_faces',
  'hires_fix',
  'face_correct',
  'face_swap',
  'color_grading',
  'film_grain',
  'denoising_strength',
  'controlnet_conditioning_scale',
  'controlnet_txt2img',
  'lora_scale',
  'input_image',
  'mask_image',
  'backend_version',
  'resolution',
  'pack_id',
  'base_pack_id',
] as const;

/** The prompt's tune, where it matters to the check: a prompt on a faceid tune uses that tune's identity. */
export interface PromptTuneRef {
  /** null while the tune is being created (its prompts_attributes) */
  id: number | null;
  modelType: string | null;
}

/**
 * FaceID (`<faceid:ID:w>` tags, or a prompt on a faceid tune): the generator must list the `faceid` feature, and
 * the engine runs one adapter per generation on a whole image (engine/adapter-request.ts), so FaceID with a
 * controlnet type, a mask or a second identity is refused here rather than failing the prompt at run time.
 */
function faceIdGaps(
  caps: GeneratorCapabilities,
  params: Record<string, unknown>,
  tune: PromptTuneRef | undefined,
): Record<string, string> {
  const tagged = new Set(
    parseTuneTags(typeof params.text === 'string' ? params.text : '')
      .filter((t) => t.kind === 'faceid')
      .map((t) => t.tuneId),
  );
  const own = tune?.modelType === 'faceid';
  const ids = new Set<number | null>(tagged);
  if (own) ids.add(tune?.id ?? null);
  if (!ids.size) return {};
  const field = tagged.size ? 'text' : 'tune_id';
  const gaps: Record<string, string> = {};
  if (!caps.features.includes('faceid'))
    gaps[field] = caps.featureReasons?.faceid ?? 'FaceID is not supported by the installed engine';
  else if (ids.size > 1)
    gaps.text = `one faceid identity per prompt (got tunes ${[...ids].map((i) => i ?? 'this tune').join(', ')})`;
  if (params.controlnet)
    gaps.controlnet = 'FaceID cannot be combined with controlnet in one prompt (one adapter per generation)';
  if (params.mask_image || params.mask_image_url)
    gaps.mask_image = 'a mask cannot be combined with FaceID (FaceID inpainting is not implemented)';
  return gaps;
}

/** Fields the caller set that this implementation cannot honour, with the reason. */
export function capabilityGaps(
  caps: GeneratorCapabilities,
  params: Record<string, unknown>,
  tune?: PromptTuneRef,
): Record<string, string> {
  const gaps: Record<string, string> = caps.mock ? {} : faceIdGaps(caps, params, tune);
  const has = (f: string) => caps.features.includes(f);
  for (const f of FEATURE_FIELDS) {
    const v =
      f === 'input_image'
        ? params.input_image || params.input_image_url || params.input_image_base64
        : f === 'mask_image'
          ? params.mask_image || params.mask_image_url
          : params[f];
    if (!isDefaultValue(f, v) && !has(f))
      gaps[f] = caps.featureReasons?.[f] ?? 'not supported by the installed engine';
  }
  if (params.scheduler && !caps.schedulers.includes(params.scheduler as string))
    gaps.scheduler = `scheduler "${params.scheduler}" is not installed (installed: ${caps.schedulers.join(', ') || 'none'})`;
  if (params.controlnet && !caps.controlnets.includes(params.controlnet as string))
    gaps.controlnet =
      caps.controlnetReasons?.[params.controlnet as string] ??
      `no ControlNet model "${params.controlnet}" is installed`;
  if (params.controlnet && (params.mask_image || params.mask_image_url) && !caps.mock)
    gaps.mask_image ??=
      'a mask cannot be combined with controlnet (inpainting with control is not implemented)';
  // Combinations the post stages cannot run (hires_fix without super_resolution, ...), for what the engine has.
  if (!caps.mock) {
    try {
      checkPostParams(
        { ...(params as object), seed: 0 },
        {
          superResolution: has('super_resolution'),
          img2img: has('hires_fix'),
          faces: has('inpaint_faces') || has('face_correct'),
          faceRestore: has('face_correct'),
          faceSwap: has('face_swap'),
          faceSwapMissing: caps.featureReasons?.face_swap,
        },
      );
    } catch (e) {
      if (!(e instanceof PostStageUnavailableError)) throw e;
      gaps[e.field] = e.message; // more precise than the generic feature gap
    }
  }
  return gaps;
}

/**
 * For a real branch, a gap is a 422 naming what is missing. For the fast mock, gaps become notes recorded on the
 * prompt (the images are labelled MOCK). Returns { errors } or { notes }.
 */
export function checkGeneration(
  engines: Engines,
  branch: string,
  params: Record<string, unknown>,
  tune?: PromptTuneRef,
): { errors: Record<string, string[]> } | { notes: string[] } {
  const gen = generatorFor(engines, branch);
  if (!gen) return { errors: { branch: [`no image generator is installed for branch "${branch}"`] } };
  const caps = gen.capabilities();
  const gaps = capabilityGaps(caps, params, tune);
  if (caps.mock) return { notes: Object.keys(gaps).map((f) => `mock: ${f} recorded, not applied`) };
  if (!Object.keys(gaps).length) return { notes: [] };
  return {
    errors: Object.fromEntries(
      Object.entries(gaps).map(([f, why]) => [f, [`${why} (branch ${branch}, ${gen.name})`]]),
    ),
  };
}

export function randomSeed(random: () => number = Math.random): number {
  return Math.floor(random() * (MAX_SEED + 1));
}

/** Every parameter resolved for the generator. */
export function resolveGeneration(
  p: Record<string, unknown>,
  tune: GenerationTune,
  characteristics: Record<string, string>,
  seed: number,
  images: { input: Buffer | null; mask: Buffer | null },
): GenerationRequest {
  const filled = fillCharacteristics(p.text as string, characteristics);
  const styled = applyStyle(p.style as Style | undefined, filled, p.negative_prompt as string | undefined);
  const { width, height } = resolveSize(p, tune.branch);
  const num = (k: string) => p[k] as number | undefined;
  const bool = (k: string) => p[k] === true;
  return {
    tune,
    loras: parseTuneTags(filled).map(({ tuneId, weight }) => ({ tuneId, weight })),
    text: styled.text,
    negativePrompt: styled.negative ?? '',
    numImages: num('num_images') ?? DEFAULT_NUM_IMAGES,
    width,
    height,
    seed,
    // 0 / no scheduler = the base model's own defaults: the generator resolves them (GenerationResult.resolved)
    steps: num('steps') ?? 0,
    // blank = the model's default, which only the generator knows (reported in GenerationResult.resolved)
    cfgScale: num('cfg_scale') ?? null,
    scheduler: (p.scheduler as Scheduler | undefined) ?? null,
    useLpw: bool('use_lpw'),
    style: (p.style as Style | undefined) ?? null,
    superResolution: bool('super_resolution'),
    inpaintFaces: bool('inpaint_faces'),
    hiresFix: bool('hires_fix'),
    faceCorrect: bool('face_correct'),
    faceSwap: bool('face_swap'),
    colorGrading: (p.color_grading as string | undefined) ?? null,
    filmGrain: bool('film_grain'),
    controlnet: (p.controlnet as string | undefined) ?? null,
    controlnetConditioningScale: num('controlnet_conditioning_scale') ?? null,
    controlnetTxt2img: bool('controlnet_txt2img'),
    denoisingStrength: num('denoising_strength') ?? DEFAULT_DENOISING_STRENGTH,
    loraScale: num('lora_scale') ?? null,
    inputImage: images.input,
    maskImage: images.mask,
  };
}
