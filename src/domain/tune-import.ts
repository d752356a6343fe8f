// LoRA import (extension, docs/api-notes.md): a tune created from an existing LoRA .safetensors file — uploaded as
// `lora_file` or downloaded from `lora_url` through the guarded fetcher — instead of trained from photos. The
// branch's generator checks the file (format, and on a real branch that it fits the base model's architecture);
// a file that fails is a 422 and nothing is stored. A checked file makes the tune ready at once.
import { createHash } from 'node:crypto';
import { OutboundBlockedError } from '../net/guarded-fetch.ts';
import type { Services } from './context.ts';
import { validationError } from './errors.ts';
import { isUploadedFile } from './image-inputs.ts';
import { generatorFor, type LoraFileInfo, LoraRejectedError } from './ports.ts';
import type { TuneCreateInput } from './tune-schema.ts';

/** Where the weights of a tune live in the blob store (trained or imported). */
export const tuneWeightsKey = (tuneId: number): string => `tunes/${tuneId}/weights.safetensors`;

/** The tune's args JSON with `ckpt`, the blob key of its weights file (the presenter serves it as ckpt_url). */
export function withCkpt(args: string, key: string): string {
  return JSON.stringify({ ...(JSON.parse(args) as object), ckpt: key });
}

/** Create fields that only training uses: an import that sets them is refused rather than silently ignoring them. */
const TRAINING_ONLY = [
  'images',
  'image_urls',
  'steps',
  'face_crop',
  'training_face_correct',
  'preset',
] as const;

/** What the tune records about its imported file (`args.lora_import`). */
export interface LoraImportRecord extends LoraFileInfo {
  source: 'upload' | 'url';
  url?: string;
  filename?: string;
  bytes: number;
  sha256: string;
}

export interface CheckedLora {
  data: Buffer;
  record: LoraImportRecord;
}

/** True when the create request is a LoRA import (either field present). */
export function isLoraImport(raw: Record<string, unknown>, input: TuneCreateInput): boolean {
  return input.lora_url !== undefined || (raw.lora_file !== undefined && raw.lora_file !== '');
}

/**
 * Validates an import request, gets the file and has the branch's generator check it. Throws a 422 naming the
 * field for every problem; returns the bytes and what to record.
 */
export async function takeInLora(
  svc: Services,
  raw: Record<string, unknown>,
  input: TuneCreateInput,
  branch: string,
): Promise<CheckedLora> {
  const errors: Record<string, string[]> = {};
  const file = raw.lora_file;
  if (file !== undefined && file !== '' && input.lora_url !== undefined)
    errors.lora_url = ['give either lora_file or lora_url, not both'];
  for (const f of TRAINING_ONLY) {
    const v = f === 'images' ? raw.images : input[f];
    const set = Array.isArray(v) ? v.length > 0 : v !== undefined && v !== null && v !== '' && v !== false;
    if (set) errors[f] = ['is not used when importing a LoRA (lora_file / lora_url): nothing is trained'];
  }
  if (input.model_type !== undefined && input.model_type !== 'lora')
    errors.model_type = [`must be lora to import a LoRA file (got ${input.model_type})`];
  const generator = generatorFor(svc.engines, branch);
  if (!generator?.checkLora) errors.branch = [`branch ${branch} cannot import LoRA files`];
  if (Object.keys(errors).length) throw validationError(errors);

  const field = isUploadedFile(file) ? 'lora_file' : 'lora_url';
  const got = isUploadedFile(file)
    ? { data: file.data, source: 'upload' as const, filename: file.filename }
    : { data: await download(svc, input.lora_url as string), source: 'url' as const, url: input.lora_url };
  if (got.data.length > svc.config.loraMaxBytes)
    throw validationError({
      [field]: [
        `is ${got.data.length} bytes; the limit is ${svc.config.loraMaxBytes} (ATELIER_LORA_MAX_BYTES)`,
      ],
    });
  let info: LoraFileInfo;
  try {
    info = await generator!.checkLora!(got.data, input.base_tune_id ?? null, field);
  } catch (e) {
    if (e instanceof LoraRejectedError) throw validationError({ [e.field]: [e.message] });
    throw e;
  }
  return {
    data: got.data,
    record: {
      ...info,
      source: got.source,
      ...(got.url !== undefined && { url: got.url }),
      ...(got.filename && { filename: got.filename }),
      bytes: got.data.length,
      sha256: createHash('sha256').update(got.data).digest('hex'),
    },
  };
}

/** The file behind lora_url, through the guarded fetcher, capped at ATELIER_LORA_MAX_BYTES. Every failure is a 422. */
async function download(svc: Services, url: string): Promise<Buffer> {
  const fail = (why: string) => validationError({ lora_url: [why] });
  let res: Awaited<ReturnType<Services['outbound']['fetch']>>;
  try {
    res = await svc.outbound.fetch(url, { method: 'GET', maxBytes: svc.config.loraMaxBytes });
  } catch (e) {
    if (e instanceof OutboundBlockedError) throw fail(`is not allowed: ${e.message}`);
    throw fail(`could not be downloaded: ${(e as Error).message}`);
  }
  if (res.status < 200 || res.status >= 300) throw fail(`could not be downloaded: HTTP ${res.status}`);
  return res.body;
}
