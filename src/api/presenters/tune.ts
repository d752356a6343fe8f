// Tune row → Astria tune JSON (API.md §2, CLIENTS.md item 17). Pure: URLs come from the caller's context.
import { type ImageUrlSigner, SAFETENSORS_TYPE } from '../../blobs/signed-urls.ts';
import type { Tune, TuneImage } from '../../store/schema.ts';

export interface PresentContext {
  baseUrl: string;
  signer: ImageUrlSigner;
}

const bool = (v: number | null) => (v === null ? null : v === 1);
/** `args.notes`: create arguments the tune command recorded without applying (e.g. face_crop in fast mode). */
function notesOf(args: string | null): string[] {
  if (!args) return [];
  const notes = (JSON.parse(args) as { notes?: unknown }).notes;
  return Array.isArray(notes) ? notes.filter((n): n is string => typeof n === 'string') : [];
}

/** `args.ckpt`: the blob key of the tune's weights file, set when a training or a LoRA import stored one. */
export function ckptKeyOf(t: Pick<Tune, 'args' | 'status'>): string | null {
  if (t.status !== 'trained' || !t.args) return null;
  const key = (JSON.parse(t.args) as { ckpt?: unknown }).ckpt;
  return typeof key === 'string' ? key : null;
}

const IMAGE_TYPES: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/**
 * `queuePosition`: the training job's place in the queue (src/domain/queue-positions.ts), looked up by the routes
 * that answer a tune; shown only while the tune is queued.
 */
export function presentTune(t: Tune, images: TuneImage[], ctx: PresentContext, queuePosition?: number) {
  const ckpt = ckptKeyOf(t) ? ctx.signer.url('tune-weights', t.id, SAFETENSORS_TYPE) : null;
  return {
    id: t.id,
    title: t.title,
    name: t.name,
    token: t.token,
    branch: t.branch,
    model_type: t.model_type,
    base_tune_id: t.base_tune_id,
    steps: t.steps,
    face_crop: bool(t.face_crop),
    training_face_correct: bool(t.training_face_correct),
    callback: t.callback,
    characteristics: JSON.parse(t.characteristics) as Record<string, string>,
    args: null,
    orig_images: images.map((i) =>
      ctx.signer.url('tune-images', i.id, IMAGE_TYPES[i.format] ?? 'image/jpeg'),
    ),
    ckpt_url: ckpt,
    ckpt_urls: ckpt ? [ckpt] : [],
    eta: t.eta,
    started_training_at: t.started_training_at,
    trained_at: t.trained_at,
    failed_at: t.failed_at,
    expires_at: t.expires_at,
    created_at: t.created_at,
    updated_at: t.updated_at,
    url: `${ctx.baseUrl}/tunes/${t.id}.json`,
    status: t.status,
    progress: t.progress,
    queue_position: t.status === 'queued' ? (queuePosition ?? null) : null,
    user_error: t.user_error,
    error_message: t.user_error,
    notes: notesOf(t.args),
  };
}

export type TuneJson = ReturnType<typeof presentTune>;
