// The one schema of a prompt (generation request): types, ranges, defaults and cross-field rules (seed §3–4).
import { z } from 'zod';
import { toNumber, zBool, zEnum, zInt, zNum, zStr, zUrl } from './coerce.ts';
import { ASPECT_RATIOS, COLOR_GRADINGS, CONTROLNETS, SCHEDULERS, STYLES } from './vocab.ts';

export const MAX_SEED = 2 ** 32 - 1;

/**
 * w / h: 64–2048, a multiple of 8 (the VAE's downscale factor). `multipleOf` rather than a refine so the rule
 * reaches the JSON Schema (OpenAPI, the dashboard form's step); the messages are the same as before.
 */
const imageSide = (help: string) =>
  z
    .preprocess(
      toNumber,
      z.number().int().min(64).max(2048).multipleOf(8, { message: 'must be a multiple of 8' }).optional(),
    )
    .describe(help);

/**
 * `default` in the JSON Schema only (documentation and the form's hint): parsing leaves a blank field undefined,
 * because a prompt shows blank fields as null until processing resolves them (API.md §3). Only defaults that do
 * not depend on the base model are listed (steps and scheduler come from the model).
 */
const withDefault = <T extends z.ZodType>(schema: T, value: unknown): T =>
  schema.meta({ default: value }) as T;

/** The values generation.ts resolves blanks to (DEFAULT_* there; a test keeps the two equal). */
export const DOCUMENTED_DEFAULTS = { num_images: 4, cfg_scale: 7.5, denoising_strength: 0.8 } as const;

export const promptFields = {
  text: z
    .preprocess((v) => (v === '' || v === null ? undefined : v), z.string().min(1).max(20_000))
    .describe(
      'Description of the image; must contain the tune trigger word (e.g. "ohwx man") or a <lora:ID:w> / ' +
        '<faceid:ID:w> tag (w: LoRA weight; for faceid the FaceID adapter scale, default 1)',
    ),
  negative_prompt: zStr('Comma-separated things to avoid'),
  callback: zUrl('URL POSTed with {"prompt": {...}} when the prompt completes or fails'),
  num_images: withDefault(
    zInt(1, 8, 'Number of images to generate (1–8, default 4)'),
    DOCUMENTED_DEFAULTS.num_images,
  ),
  seed: zInt(0, MAX_SEED, 'Random seed (0 to 2^32−1); random when blank'),
  super_resolution: zBool('x4 super-resolution'),
  inpaint_faces: zBool('Inpaint faces (requires super_resolution)'),
  hires_fix: zBool('Adds details (requires super_resolution)'),
  face_correct: zBool('AI face correction'),
  face_swap: zBool('Use training images for face swap'),
  cfg_scale: withDefault(
    zNum(
      0,
      15,
      'Classifier-free guidance scale, 0–15 (higher = follows the text more strictly); blank = the model default: 7.5, or 0 (no guidance) for distilled few-step models such as SD-Turbo',
    ),
    DOCUMENTED_DEFAULTS.cfg_scale,
  ),
  steps: zInt(0, 50, 'Diffusion steps, 0–50 (0 = model default)'),
  use_lpw: zBool('Weighted prompts: (word:1.3), (word), [word]; long prompts chunked'),
  w: imageSide('Width in pixels, multiple of 8'),
  h: imageSide('Height in pixels, multiple of 8'),
  aspect_ratio: zEnum(ASPECT_RATIOS, 'Aspect ratio; sets w/h from the model resolution when they are blank'),
  resolution: zStr('Resolution hint (recorded)', 64),
  scheduler: zEnum(SCHEDULERS, 'Diffusion scheduler'),
  backend_version: z
    .preprocess(
      (v) => (v === '' ? undefined : typeof v === 'string' ? Number(v) : v),
      z.union([z.literal(0), z.literal(1), z.null()]).optional(),
    )
    .describe('Backend version: null, 0 or 1'),
  style: zEnum(STYLES, 'Preset style wrapping the text in a template'),
  color_grading: zEnum(COLOR_GRADINGS, 'Colour grading preset'),
  film_grain: zBool('Adds realistic noise'),
  controlnet: zEnum(CONTROLNETS, 'ControlNet type (needs an input image)'),
  denoising_strength: withDefault(
    zNum(0, 1, 'img2img strength: 1.0 = follow the prompt, 0.0 = keep the image (default 0.8)'),
    DOCUMENTED_DEFAULTS.denoising_strength,
  ),
  controlnet_conditioning_scale: zNum(
    0,
    1,
    'ControlNet strength, or the adapter scale for ipadapter/reference/composition, 0–1 (FaceID: the <faceid:ID:w> weight)',
  ),
  controlnet_txt2img: zBool('ControlNet: true = text-to-image, false = image-to-image'),
  input_image_url: zUrl('URL of the input image'),
  input_image_base64: zStr('Input image as a base64 data URL', 30_000_000),
  mask_image_url: zUrl('URL of a one-channel inpainting mask'),
  lora_scale: zNum(0, 2, 'Override the LoRA scale'),
  pack_id: zInt(0, Number.MAX_SAFE_INTEGER, 'Pack id (recorded)'),
  base_pack_id: zInt(0, Number.MAX_SAFE_INTEGER, 'Base pack id (recorded)'),
};

export type PromptInput = {
  [K in keyof typeof promptFields]: z.output<(typeof promptFields)[K]>;
} & { input_image?: Buffer; mask_image?: Buffer };

function crossFieldRules(p: Record<string, unknown>, ctx: z.RefinementCtx) {
  const need = (field: string, cond: boolean, message: string) => {
    if (cond) ctx.addIssue({ code: 'custom', path: [field], message });
  };
  need(
    'inpaint_faces',
    p.inpaint_faces === true && p.super_resolution !== true,
    'requires super_resolution=true',
  );
  need('hires_fix', p.hires_fix === true && p.super_resolution !== true, 'requires super_resolution=true');
  const hasInput = Boolean(p.input_image || p.input_image_url || p.input_image_base64);
  const hasMask = Boolean(p.mask_image || p.mask_image_url);
  need('mask_image', hasMask && !hasInput, 'a mask needs an input image (input_image or input_image_url)');
  need(
    'controlnet',
    p.controlnet !== undefined && !hasInput,
    'controlnet needs an input image (input_image or input_image_url)',
  );
}

const fileField = z.instanceof(Buffer).optional().describe('Uploaded file (multipart)');

export const promptSchema = z
  .object({ ...promptFields, input_image: fileField, mask_image: fileField })
  .superRefine(crossFieldRules);

/** prompts_attributes entries of a tune: the same fields (files excepted). */
export const promptAttributesSchema = z.object(promptFields).superRefine(crossFieldRules);

/** Parameters whose value is "nothing asked": a generator need not support them in that state. */
export function isDefaultValue(field: string, v: unknown): boolean {
  if (v === undefined || v === null || v === false) return true;
  if (field === 'denoising_strength') return v === DOCUMENTED_DEFAULTS.denoising_strength;
  return false;
}
