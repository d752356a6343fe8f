// Response schemas of the API, mirroring the presenters (src/api/presenters/*.ts) field by field. The presenters
// are plain mappers without zod schemas, so these are the response half of the one schema source: the OpenAPI
// document is generated from them, the typed client takes its types from them, and test/openapi checks real
// responses against the generated document (a presenter that drifts from these fails there).
// Prompt parameters reuse the domain's own field schemas (src/domain/prompt-schema.ts): a response value is what
// the request accepted, or null while blank.
import { z } from 'zod';
import { ERRORS } from '../domain/errors.ts';
import { promptFields } from '../domain/prompt-schema.ts';

const isoTime = z.iso.datetime({ offset: false, precision: 3 }).describe('ISO-8601 UTC with milliseconds');
const nullableTime = (help: string) => isoTime.nullable().describe(help);
const absoluteUrl = z.url().describe('Absolute URL');

export const TUNE_STATUSES = ['queued', 'training', 'trained', 'failed'] as const;
export const PROMPT_STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
export const TERMINAL_TUNE_STATUSES: readonly TuneStatus[] = ['trained', 'failed'];
export const TERMINAL_PROMPT_STATUSES: readonly PromptStatus[] = ['completed', 'failed', 'cancelled'];
export type TuneStatus = (typeof TUNE_STATUSES)[number];
export type PromptStatus = (typeof PROMPT_STATUSES)[number];

const progress = z.number().min(0).max(1).describe('(ext) 0–1');

export const tuneResponse = z.object({
  id: z.int().describe('Tune id'),
  title: z.string(),
  name: z.string().describe('Class noun (man, woman, dog, …)'),
  token: z.string().describe('Trigger word'),
  branch: z.string().describe('sd15, sdxl1, flux1 or fast'),
  model_type: z.string().nullable().describe('lora, faceid, pti, or null for a full checkpoint'),
  base_tune_id: z.int().nullable(),
  steps: z.int().nullable().describe('Training steps'),
  face_crop: z.boolean().nullable(),
  training_face_correct: z.boolean().nullable(),
  callback: z.string().nullable(),
  characteristics: z.record(z.string(), z.string()).describe('Substituted for {{key}} in prompt texts'),
  args: z.unknown().describe('Reserved (Astria: training arguments); null'),
  orig_images: z.array(absoluteUrl).describe('Signed URLs of the training images (no API key needed)'),
  ckpt_url: z.string().nullable(),
  ckpt_urls: z.array(z.string()),
  eta: nullableTime('Expected end of training'),
  started_training_at: nullableTime('When training began'),
  trained_at: nullableTime('Set when training finished: the tune is ready when this is not null'),
  failed_at: nullableTime('Set when training failed'),
  expires_at: nullableTime('When the tune is deleted automatically, if ever'),
  created_at: isoTime,
  updated_at: isoTime,
  url: absoluteUrl.describe('<base>/tunes/<id>.json'),
  status: z.enum(TUNE_STATUSES).describe('(ext) queued → training → trained | failed'),
  progress,
  queue_position: z
    .int()
    .min(1)
    .nullable()
    .describe(
      '(ext) while queued: place of its training job in the job queue, 1 = started next (docs/api-notes.md); ' +
        'null otherwise',
    ),
  user_error: z.string().nullable().describe('(ext) failure message, null otherwise'),
  error_message: z.string().nullable().describe('Same as user_error (read by some clients)'),
  notes: z
    .array(z.string())
    .describe('(ext) create arguments this server recorded but did not apply (e.g. face_crop in fast mode)'),
});

export const imageRef = z.object({
  id: z.int(),
  url: absoluteUrl.describe('Signed, expiring image URL; no API key needed'),
});

/** A prompt parameter as presented: the accepted value, or null while blank (resolved after processing). */
const param = <K extends keyof typeof promptFields>(k: K) => promptFields[k].nullable();

export const promptResponse = z.object({
  id: z.int().describe('Prompt id'),
  tune_id: z.int(),
  text: z.string(),
  negative_prompt: z.string().nullable(),
  callback: z.string().nullable(),
  cfg_scale: param('cfg_scale'),
  steps: param('steps'),
  seed: z.int().nullable().describe('null until processing picks one when it was blank'),
  num_images: z.int().min(1).max(8),
  w: param('w'),
  h: param('h'),
  aspect_ratio: param('aspect_ratio'),
  resolution: param('resolution'),
  scheduler: param('scheduler'),
  style: param('style'),
  super_resolution: param('super_resolution'),
  inpaint_faces: param('inpaint_faces'),
  hires_fix: param('hires_fix'),
  face_correct: param('face_correct'),
  face_swap: param('face_swap'),
  use_lpw: param('use_lpw'),
  color_grading: param('color_grading'),
  film_grain: param('film_grain'),
  controlnet: param('controlnet'),
  denoising_strength: param('denoising_strength'),
  controlnet_conditioning_scale: param('controlnet_conditioning_scale'),
  controlnet_txt2img: param('controlnet_txt2img'),
  input_image_url: param('input_image_url'),
  mask_image_url: param('mask_image_url'),
  lora_scale: param('lora_scale'),
  pack_id: param('pack_id'),
  status: z.enum(PROMPT_STATUSES).describe('queued → processing → completed | failed | cancelled'),
  images: z
    .union([z.array(imageRef), z.array(absoluteUrl)])
    .describe('[] until completed; [{id, url}] for native keys, plain URL strings for astria-compat keys'),
  user_error: z.string().nullable().describe('Failure message, null otherwise'),
  progress,
  phase: z.string().nullable().describe('(ext) current phase while processing (e.g. denoising)'),
  progress_step: z.int().nullable().describe('(ext) 1-based step within the phase'),
  progress_total: z.int().nullable().describe('(ext) steps in the phase'),
  queue_position: z
    .int()
    .min(1)
    .nullable()
    .describe(
      '(ext) while queued: place in the job queue, 1 = started next (fair across accounts; docs/api-notes.md). ' +
        'null once processing, and while the prompt waits for its tune to finish training',
    ),
  notes: z.array(z.string()).describe('(ext) what this server did not honour (e.g. the fast mock)'),
  liked: z
    .boolean()
    .optional()
    .describe(
      '(ext) whether the caller likes it; on the like, duplicate and PATCH answers (filter lists with ?liked)',
    ),
  started_training_at: nullableTime('When processing began'),
  trained_at: nullableTime('When processing finished (either way)'),
  created_at: isoTime,
  updated_at: isoTime,
  url: absoluteUrl.describe('<base>/tunes/<tune_id>/prompts/<id>.json'),
});

const ERROR_CODES = Object.keys(ERRORS) as [keyof typeof ERRORS, ...(keyof typeof ERRORS)[]];

export const errorResponse = z.object({
  error: z.string().describe('One-line summary'),
  errors: z.record(z.string(), z.array(z.string())).optional().describe('422 only: field path → messages'),
  code: z.enum(ERROR_CODES).describe('Stable error code (src/domain/errors.ts)'),
  request_id: z.string().describe('Also in the x-request-id header; quote it when reporting a bug'),
});

export const userResponse = z.object({
  id: z.int().describe('Account id'),
  name: z.string().nullable(),
  email: z.string().nullable(),
  usd_balance_mc: z.number(),
});

export const webhookDeliveryResponse = z.object({
  id: z.int(),
  webhook_id: z.string().describe('The webhook-id header; the same on every retry'),
  event: z.string(),
  subject_id: z.int().describe('Tune or prompt id'),
  url: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.int(),
  last_status: z.int().nullable().describe('HTTP status of the last attempt'),
  last_error: z.string().nullable(),
  next_attempt_at: nullableTime('Next retry while pending'),
  created_at: isoTime,
  delivered_at: nullableTime('When a 2xx answer came'),
});

export const healthResponse = z.object({ ok: z.boolean() });

/** A pack's per-class counts (src/api/routes/packs/present.ts): self-hosted, so the cost is always 0. */
const packClassCost = z.object({
  cost: z.number(),
  num_prompts: z.int(),
  num_images: z.int(),
});

export const packResponse = z.object({
  id: z.int(),
  slug: z.string().describe('URL name: GET /p/<slug>'),
  title: z.string(),
  subtitle: z.string().nullable(),
  description: z.string().nullable(),
  cover_url: z.string().nullable(),
  base_tune_id: z.int().nullable().describe('Base model the pack trains on (null: the server default)'),
  token: z.string().describe('Trigger word in the templates, replaced by the tune token when run'),
  model_type: z.string().nullable(),
  main_class_name: z.string().nullable(),
  user_id: z.int().nullable().describe('Owning account; null for operator (gallery) packs'),
  public_at: nullableTime('Set for gallery packs'),
  class_names: z.array(z.string()).describe('Classes the pack has prompts for (man, woman, …)'),
  costs: z.record(z.string(), packClassCost).describe('Per class: cost 0, prompt and image counts'),
  cost_mc_hash: z.record(z.string(), z.number()).describe('Astria billing per class; always 0 here'),
  created_at: isoTime,
  updated_at: isoTime,
  prompts_per_class: z
    .record(z.string(), z.array(z.looseObject({ id: z.int(), text: z.string() })))
    .optional()
    .describe('GET /p/<slug> and POST /packs only: per class, the templates with their prompt fields'),
});

export const inspectResponse = z.object({
  name: z.string().describe('The class noun sent'),
  blurry: z.boolean().describe('Variance of the Laplacian below blur_threshold'),
  low_resolution: z.boolean().describe('Short side under 512 px'),
  blur_score: z.number().describe('(ext) the variance of the Laplacian at 512 px'),
  blur_threshold: z.number().describe('(ext) the cut-off for blurry'),
  width: z.int(),
  height: z.int(),
  format: z.string().describe('Sniffed from the bytes: jpeg, png, webp'),
  face_count: z.int().optional().describe('(ext) faces detected; absent when no detector can start'),
  includes_multiple_people: z.boolean().optional().describe('More than one face; absent without a detector'),
  selfie: z.boolean().optional().describe('One large, close face; absent without a detector'),
  full_body_image_or_longshot: z.boolean().optional().describe('Small faces only; absent without a detector'),
});

export const conditioningStatusResponse = z.object({
  type: z.string().describe('A `controlnet` value: canny, depth, ipadapter, …'),
  kind: z
    .string()
    .describe(
      'algorithm (a ControlNet + a built-in preprocessor), network (a ControlNet + an ONNX annotator), ip-adapter',
    ),
  available: z.boolean().describe('Prompts may use it'),
  preprocessor: z.string().describe('How the control signal is made from the input image'),
  reason: z.string().optional().describe('Why it is unavailable (unavailable types only)'),
  install: z
    .string()
    .optional()
    .describe('Exactly what the operator must install; absent when installing cannot help'),
});

export const conditioningResponse = z.object({
  conditioning: z.array(conditioningStatusResponse).describe('One entry per controlnet type'),
});

export type TuneJson = z.infer<typeof tuneResponse>;
export type PromptJson = z.infer<typeof promptResponse>;
export type ImageRefJson = z.infer<typeof imageRef>;
export type ErrorJson = z.infer<typeof errorResponse>;
export type UserJson = z.infer<typeof userResponse>;
export type WebhookDeliveryJson = z.infer<typeof webhookDeliveryResponse>;
export type PackJson = z.infer<typeof packResponse>;
export type InspectJson = z.infer<typeof inspectResponse>;
export type ConditioningJson = z.infer<typeof conditioningResponse>;

/** Every named response schema, by component name. */
export const RESPONSE_SCHEMAS = {
  Tune: tuneResponse,
  Prompt: promptResponse,
  ImageRef: imageRef,
  Error: errorResponse,
  User: userResponse,
  WebhookDelivery: webhookDeliveryResponse,
  Health: healthResponse,
  Pack: packResponse,
  Inspection: inspectResponse,
  Conditioning: conditioningResponse,
} as const;
