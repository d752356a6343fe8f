// Prompt actions beyond create/cancel/delete: like and unlike (CLIENTS.md item 29's `liked` filter reads them),
// duplicate with overrides, and edit (PATCH). Every action loads the prompt through the caller's account first.
import { nowIso } from '../store/db.ts';
import { likePrompt, unlikePrompt } from '../store/likes.ts';
import * as promptsSql from '../store/prompts.ts';
import type { Prompt } from '../store/schema.ts';
import { toBoolean, zUrl } from './coerce.ts';
import type { Actor, Services } from './context.ts';
import { AppError, validationError } from './errors.ts';
import { insertAndSchedule, loadOwnPrompt, validatePrompt } from './prompts.ts';
import { checkCallback, loadVisibleTune } from './tunes.ts';

export async function setLiked(svc: Services, actor: Actor, id: number, liked: boolean): Promise<Prompt> {
  const p = await loadOwnPrompt(svc, actor, id);
  if (liked) await likePrompt(svc.db, actor.accountId, p.id);
  else await unlikePrompt(svc.db, actor.accountId, p.id);
  return p;
}

/** The parameters a prompt was created with, as a create request would send them. */
function paramsOf(p: Prompt): Record<string, unknown> {
  return JSON.parse(p.params) as Record<string, unknown>;
}

/**
 * A new prompt with the same parameters, overridden by `overrides`, on the same tune (or `tune_id`). The seed is
 * kept when the original was given one, so a duplicate with no overrides reproduces it; uploaded input and mask
 * images are copied unless replaced.
 */
export async function duplicatePrompt(
  svc: Services,
  actor: Actor,
  id: number,
  overrides: Record<string, unknown>,
): Promise<Prompt> {
  const src = await loadOwnPrompt(svc, actor, id);
  const { tune_id: tuneOverride, ...fields } = overrides;
  const tuneId = tuneOverride === undefined || tuneOverride === '' ? src.tune_id : Number(tuneOverride);
  if (!Number.isSafeInteger(tuneId)) throw validationError({ tune_id: ['must be a tune id'] });
  const tune = await loadVisibleTune(svc, actor, tuneId);
  const raw = { ...paramsOf(src), ...(src.seed !== null && { seed: src.seed }), ...fields };
  const { params, notes, files } = await validatePrompt(svc, actor, tune, raw);
  const urlReplacesInput = Boolean(overrides.input_image_url || overrides.input_image_base64);
  const stored = async (key: string | null) => (key ? await svc.blobs.get(key) : undefined);
  return insertAndSchedule(svc, actor, tune, params, notes, {
    input: files.input ?? (urlReplacesInput ? undefined : await stored(src.input_image_key)),
    mask: files.mask ?? (overrides.mask_image_url ? undefined : await stored(src.mask_image_key)),
  });
}

/**
 * PATCH a prompt: `liked` and `callback` at any time; generation fields (text, num_images, …) only while the prompt
 * is still queued, re-validated as a whole against its tune. Anything else once it started is a 409.
 */
export async function patchPrompt(
  svc: Services,
  actor: Actor,
  id: number,
  tuneId: number | undefined,
  raw: Record<string, unknown>,
): Promise<Prompt> {
  let p = await loadOwnPrompt(svc, actor, id, tuneId);
  const { liked, callback, ...rest } = raw;
  const generation = Object.keys(rest).filter((k) => rest[k] !== undefined);
  if (generation.length) {
    if (p.status !== 'queued')
      throw new AppError('conflict', `the prompt is ${p.status}: only liked and callback can change now`);
    const tune = await loadVisibleTune(svc, actor, p.tune_id);
    const { params, notes, files } = await validatePrompt(svc, actor, tune, { ...paramsOf(p), ...rest });
    if (files.input || files.mask) throw validationError({ input_image: ['cannot be replaced by PATCH'] });
    p =
      (await promptsSql.transitionPrompt(svc.db, p.id, ['queued'], {
        text: params.text as string,
        negative_prompt: (params.negative_prompt as string | undefined) ?? null,
        params: JSON.stringify(params),
        notes: JSON.stringify(notes),
        seed: (params.seed as number | undefined) ?? null,
        num_images: (params.num_images as number | undefined) ?? p.num_images,
      })) ?? (await promptsSql.getPrompt(svc.db, p.id))!;
  }
  if (callback !== undefined) {
    const parsed = zUrl('callback').safeParse(callback);
    if (!parsed.success) throw validationError({ callback: ['must be an http(s) URL'] });
    await checkCallback(svc, 'callback', parsed.data);
    p =
      (await promptsSql.updatePrompt(svc.db, p.id, {
        callback: parsed.data ?? null,
        updated_at: nowIso(),
      })) ?? p;
  }
  if (liked !== undefined) {
    const b = toBoolean(liked);
    if (typeof b !== 'boolean') throw validationError({ liked: ['must be true or false'] });
    await setLiked(svc, actor, p.id, b);
  }
  return p;
}
