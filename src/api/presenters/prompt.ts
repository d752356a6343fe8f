// Prompt row → Astria prompt JSON (API.md §3, CLIENTS.md items 25–28). `images` is [{id, url}] for native keys
// and plain URL strings for astria-compat keys, and stays [] until the prompt is completed.
import type { Image, Presentation, Prompt } from '../../store/schema.ts';
import type { PresentContext } from './tune.ts';

/** What the row does not carry: looked up by the route that presents it. */
export interface PromptLive {
  /**
   * The caller's own like: routes that looked it up pass it (the like, duplicate and PATCH answers); elsewhere it
   * is left out rather than guessed.
   */
  liked?: boolean;
  /** Place in the job queue (src/domain/queue-positions.ts); shown only while the prompt is queued. */
  queuePosition?: number;
}

export function presentPrompt(
  p: Prompt,
  images: Image[],
  presentation: Presentation,
  ctx: PresentContext,
  { liked, queuePosition }: PromptLive = {},
) {
  const params = JSON.parse(p.params) as Record<string, unknown>;
  const resolved = p.resolved ? (JSON.parse(p.resolved) as Record<string, unknown>) : {};
  // Blank fields are null until processing resolves them (the seed: cfg_scale null on create, 7.5 later).
  const v = (k: string) => resolved[k] ?? params[k] ?? null;
  const done = p.status === 'completed';
  const urls = done
    ? images.map((i) => ({ id: i.id, url: ctx.signer.url('images', i.id, i.content_type) }))
    : [];
  return {
    id: p.id,
    tune_id: p.tune_id,
    text: p.text,
    negative_prompt: p.negative_prompt,
    callback: p.callback,
    cfg_scale: v('cfg_scale'),
    steps: v('steps'),
    seed: p.seed,
    num_images: p.num_images,
    w: v('w'),
    h: v('h'),
    aspect_ratio: v('aspect_ratio'),
    resolution: v('resolution'),
    scheduler: v('scheduler'),
    style: v('style'),
    super_resolution: v('super_resolution'),
    inpaint_faces: v('inpaint_faces'),
    hires_fix: v('hires_fix'),
    face_correct: v('face_correct'),
    face_swap: v('face_swap'),
    use_lpw: v('use_lpw'),
    color_grading: v('color_grading'),
    film_grain: v('film_grain'),
    controlnet: v('controlnet'),
    denoising_strength: v('denoising_strength'),
    controlnet_conditioning_scale: v('controlnet_conditioning_scale'),
    controlnet_txt2img: v('controlnet_txt2img'),
    input_image_url: v('input_image_url'),
    mask_image_url: v('mask_image_url'),
    lora_scale: v('lora_scale'),
    pack_id: v('pack_id'),
    status: p.status,
    images: presentation === 'astria' ? urls.map((u) => u.url) : urls,
    user_error: p.user_error,
    progress: p.progress,
    phase: p.phase,
    progress_step: p.progress_step,
    progress_total: p.progress_total,
    queue_position: p.status === 'queued' ? (queuePosition ?? null) : null,
    notes: JSON.parse(p.notes) as string[],
    ...(liked !== undefined && { liked }),
    started_training_at: p.started_training_at,
    trained_at: p.trained_at,
    created_at: p.created_at,
    updated_at: p.updated_at,
    url: `${ctx.baseUrl}/tunes/${p.tune_id}/prompts/${p.id}.json`,
  };
}

export type PromptJson = ReturnType<typeof presentPrompt>;
