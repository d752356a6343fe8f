// Request bodies of the routes beyond create/patch of tunes and prompts (packs, inspect, prompt actions). Built from
// the same domain schemas the routes validate with, so ranges and enums stay the domain's own.
import { z } from 'zod';
import { zBool, zUrl } from '../domain/coerce.ts';
import { packDefinitionSchema } from '../domain/packs.ts';
import { promptFields } from '../domain/prompt-schema.ts';
import { tuneCreateSchema } from '../domain/tune-schema.ts';

/** Prompt fields as a JSON body carries them: no binary parts, none required. */
const { text: _text, ...promptOptional } = promptFields;

export const promptPatchBody = z
  .object({
    ...promptFields,
    liked: zBool('Like (true) or unlike (false) the prompt; allowed at any time'),
  })
  .partial()
  .describe(
    'liked and callback change at any time; generation fields only while the prompt is queued (re-validated ' +
      'against its tune, 409 once it started)',
  );

export const promptDuplicateBody = z
  .object({
    ...promptOptional,
    text: promptFields.text.optional(),
    tune_id: z.int().optional().describe('Run the copy on this tune instead (default: the same tune)'),
  })
  .describe('Overrides for the copy; everything else (the seed included) is taken from the original');

export const packCreateBody = packDefinitionSchema.describe(
  'A pack: prompt templates per class (`prompts: {"man": ["ohwx man …", {"text": …, "num_images": 2}]}`)',
);

export const packRunBody = z.object({
  ...tuneCreateSchema.shape,
  prompt_attributes: z
    .looseObject({})
    .optional()
    .describe('Prompt fields applied to every pack prompt (e.g. {num_images: 2}); also beside tune'),
  tune_ids: z.array(z.int()).optional().describe('Run the pack on these existing tunes instead of training'),
  prompt_ids: z.array(z.int()).optional().describe('Only these prompts of the pack'),
  prompts_callback: zUrl('URL POSTed once with every prompt of the run when all are final'),
});

export const imageInspectBody = z.object({
  name: z.string().min(1).describe('Class of the subject: man, woman, dog, …'),
  file: z.instanceof(Buffer).optional().describe('The photo (multipart part)'),
  file_url: zUrl('Or the photo as an http(s) URL (fetched by the server)'),
});

/** Component name → schema, for componentSchemas(). */
export const EXTRA_BODY_SCHEMAS = {
  PromptPatch: promptPatchBody,
  PromptDuplicate: promptDuplicateBody,
  PackCreate: packCreateBody,
  PackRun: packRunBody,
  ImageInspect: imageInspectBody,
} as const;

/** How each extra body is wrapped on the wire (`unwrap(body, key)` in the route); null: the fields sit at the top. */
export const EXTRA_BODY_WRAPPER: Record<keyof typeof EXTRA_BODY_SCHEMAS, string | null> = {
  PromptPatch: 'prompt',
  PromptDuplicate: 'prompt',
  PackCreate: 'pack',
  PackRun: 'tune',
  ImageInspect: null,
};
