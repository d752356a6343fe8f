// Request and response types. Responses come from the OpenAPI response schemas (src/openapi/responses.ts), requests
// from the domain schemas the server validates with (src/domain/*-schema.ts): one source for both sides.
import type { z } from 'zod';
import type { promptFields } from '../domain/prompt-schema.ts';
import type { tuneCreateSchema, tunePatchSchema } from '../domain/tune-schema.ts';
import type { FileSource } from './files.ts';

export type {
  ConditioningJson as Conditioning,
  ImageRefJson as ImageRef,
  PromptJson as Prompt,
  PromptStatus,
  TuneJson as Tune,
  TuneStatus,
  UserJson as User,
  WebhookDeliveryJson as WebhookDelivery,
} from '../openapi/responses.ts';

/** Generation parameters (seed §3–4) with the types the server parses them into. */
export type PromptParams = { [K in keyof typeof promptFields]?: z.output<(typeof promptFields)[K]> };

export interface PromptCreate extends PromptParams {
  text: string;
  /** An image file for img2img / ControlNet: a path, bytes or a Blob (sent as multipart). */
  input_image?: FileSource;
  /** A one-channel inpainting mask: a path, bytes or a Blob. */
  mask_image?: FileSource;
}

type TuneFields = z.output<typeof tuneCreateSchema>;

export interface TuneCreate extends Omit<TuneFields, 'prompts_attributes' | 'image_urls'> {
  /**
   * Training images: file paths, bytes or Blobs (sent as multipart `tune[images][]`), base64 data URLs
   * (`data:image/jpeg;base64,…`) or http(s) URLs (the server downloads those).
   */
  images?: FileSource[];
  image_urls?: string[];
  prompts_attributes?: (PromptParams & { text: string })[];
}

export type TunePatch = z.output<typeof tunePatchSchema>;

export interface ListOptions {
  limit?: number;
  offset?: number;
  /** Keyset cursor: objects with a smaller id than this. */
  beforeId?: number;
}

export interface TuneListOptions extends ListOptions {
  title?: string;
  branch?: string;
  modelType?: string;
}

export interface PromptListOptions extends ListOptions {
  tuneId?: number;
  text?: string;
}

/** Progress as `waitFor` reports it, from the event stream or from polling. */
export interface ProgressUpdate {
  status: string;
  /** 0–1 */
  progress: number;
  phase?: string | null;
  step?: number | null;
  total?: number | null;
  /** (ext) While queued: the place in the server's job queue, 1 = started next; null otherwise or not sent. */
  queuePosition?: number | null;
  /** Where the update came from. */
  source: 'events' | 'poll';
}
