// The one schema of a tune create / update request (API.md §2, CLIENTS.md items 8–13, 22–23).
import { z } from 'zod';
import { blankToUndefined, urlString, zBool, zEnum, zInt, zStr, zUrl } from './coerce.ts';
import { promptAttributesSchema } from './prompt-schema.ts';
import { BRANCHES } from './vocab.ts';

export const MAX_TRAINING_IMAGES = 20;

/** `characteristics` arrives as an object, as nested form keys (already an object), or as a JSON-encoded string. */
const characteristics = z
  .preprocess(
    (v) => {
      v = blankToUndefined(v);
      if (typeof v === 'string') {
        try {
          return JSON.parse(v);
        } catch {
          return v; // left for the object check to reject with a clear message
        }
      }
      return v;
    },
    z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'keys are letters, digits, _ . -'),
        z.preprocess(
          (x) => (typeof x === 'number' || typeof x === 'boolean' ? String(x) : x),
          z.string().max(1000),
        ),
      )
      .refine((r) => Object.keys(r).length <= 50, 'at most 50 characteristics')
      .optional(),
  )
  .describe('Object of strings substituted for {{key}} in prompt texts');

/** model_type: blank = lora; an explicit JSON null or "null"/"checkpoint" = full checkpoint. */
const modelType = z
  .preprocess(
    (v) => (v === null || v === 'null' ? 'checkpoint' : blankToUndefined(v)),
    z.enum(['lora', 'faceid', 'pti', 'checkpoint']).optional(),
  )
  .describe('lora (default), faceid, pti, or null = full checkpoint');

const list = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => {
    v = blankToUndefined(v);
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v : [v];
  }, z.array(item).optional());

const titleString = z.string().min(1).max(300);
const nameString = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\p{L}\p{N} _-]+$/u, 'must be a class noun');
const TITLE_HELP = 'Title; also the idempotency key per account';
const NAME_HELP = 'Class noun: man, woman, boy, girl, baby, cat, dog, couple, style, or another noun';

export const tuneCreateSchema = z.object({
  title: z.preprocess(blankToUndefined, titleString).describe(TITLE_HELP),
  name: z.preprocess(blankToUndefined, nameString).describe(NAME_HELP),
  callback: zUrl('URL POSTed with {"tune": {...}} when training ends'),
  branch: zEnum(BRANCHES, 'sd15 (default), sdxl1, flux1, or fast (mock mode)'),
  model_type: modelType,
  token: z
    .preprocess(
      blankToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9_]{1,32}$/, 'letters, digits and _ only')
        .optional(),
    )
    .describe('Trigger word (default ohwx)'),
  steps: zInt(1, 10_000, 'Training steps; blank = default from the image count'),
  face_crop: zBool('Crop training images to faces'),
  training_face_correct: zBool('Face-correct training images'),
  base_tune_id: zInt(1, Number.MAX_SAFE_INTEGER, 'Base model tune id'),
  characteristics,
  image_urls: list(urlString).describe('http(s) URLs of training images'),
  prompts_attributes: list(promptAttributesSchema).describe('Prompts to create when training ends'),
  preset: zStr('Training preset (recorded)', 100),
  lora_file: z
    .custom<Buffer>((v) => Buffer.isBuffer(v), {
      message: 'must be a multipart file upload (a JSON body names the file with lora_url)',
    })
    .optional()
    .describe(
      '(ext) LoRA .safetensors file to import instead of training (multipart): the tune is ready once it is checked',
    ),
  lora_url: zUrl('(ext) http(s) URL of a LoRA .safetensors file to import instead of training'),
});

export type TuneCreateInput = z.output<typeof tuneCreateSchema>;

export const tunePatchSchema = z.object({
  title: z.preprocess(blankToUndefined, titleString.optional()).describe(TITLE_HELP),
  name: z.preprocess(blankToUndefined, nameString.optional()).describe(NAME_HELP),
  characteristics,
});

export type TunePatchInput = z.output<typeof tunePatchSchema>;

/** Training needs 4–20 images; faceid (identity, no gradient steps) needs 1–20. */
export function imageCountRule(modelType: string | undefined, count: number): string | null {
  const min = modelType === 'faceid' ? 1 : 4;
  if (count === 0) return null; // reported as images_missing
  if (count < min || count > MAX_TRAINING_IMAGES)
    return `needs ${min}–${MAX_TRAINING_IMAGES} images (got ${count})${modelType === 'faceid' ? '' : ' for training'}`;
  return null;
}

/** Default training steps from the image count (Astria's rule of thumb: ~100 per image, capped). */
export function defaultTrainingSteps(imageCount: number): number {
  return Math.min(2000, Math.max(500, imageCount * 100));
}
