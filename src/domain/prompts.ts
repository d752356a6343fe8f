// Prompt commands: create (validate → trigger word and tags → capabilities → inputs → store → enqueue or wait for
// training), cancel, delete.
import { nowIso } from '../store/db.ts';
import * as promptsSql from '../store/prompts.ts';
import type { Prompt, Tune } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import { enqueuePromptCallback } from './callbacks.ts';
import { issuesToFields } from './coerce.ts';
import { type Actor, JOB_PROMPT, type Services } from './context.ts';
import { AppError, notFound, validationError } from './errors.ts';
import { checkGeneration, DEFAULT_NUM_IMAGES } from './generation.ts';
import { decodeDataUrl, intakeImage, isUploadedFile } from './image-inputs.ts';
import { isPromptFinal, LIVE_PROMPT_STATUSES } from './lifecycle.ts';
import { promptSchema } from './prompt-schema.ts';
import { parseTuneTags, triggerWordError } from './prompt-text.ts';
import { checkCallback, loadVisibleTune } from './tunes.ts';

/** Validate one prompt against its tune; returns the parsed params (files excluded) and the mock notes. */
export async function validatePrompt(
  svc: Services,
  actor: Actor,
  tune: Tune,
  raw: Record<string, unknown>,
): Promise<{ params: Record<string, unknown>; notes: string[]; files: { input?: Buffer; mask?: Buffer } }> {
  const files = {
    input: isUploadedFile(raw.input_image) ? raw.input_image.data : undefined,
    mask: isUploadedFile(raw.mask_image) ? raw.mask_image.data : undefined,
  };
  const parsed = promptSchema.safeParse({ ...raw, input_image: files.input, mask_image: files.mask });
  if (!parsed.success) throw validationError(issuesToFields(parsed.error.issues));
  const { input_image: _i, mask_image: _m, ...params } = parsed.data;
  const trig = triggerWordError(params.text, {
    id: tune.id,
    token: tune.token,
    name: tune.name,
    isBaseModel: tune.account_id === null,
  });
  if (trig) throw validationError({ text: [trig] });
  for (const tag of parseTuneTags(params.text)) {
    const named = await tunesSql.findVisibleTune(svc.db, actor.accountId, tag.tuneId);
    if (!named)
      throw validationError({ text: [`<${tag.kind}:${tag.tuneId}> names a tune that does not exist`] });
    if (tag.kind === 'faceid' && named.model_type !== 'faceid')
      throw validationError({
        text: [`<faceid:${tag.tuneId}> names a ${named.model_type ?? 'base model'} tune, not a faceid tune`],
      });
  }
  const check = checkGeneration(
    svc.engines,
    tune.branch,
    { ...params, input_image: files.input, mask_image: files.mask },
    { id: tune.id, modelType: tune.model_type },
  );
  if ('errors' in check) throw new AppError('capability_missing', undefined, check.errors);
  // Every URL the job will fetch or call is checked now: a private target is a 422 naming its field.
  for (const f of ['callback', 'input_image_url', 'mask_image_url'] as const) {
    const url = (params as Record<string, unknown>)[f];
    await checkCallback(svc, f, typeof url === 'string' ? url : undefined);
  }
  return { params, notes: check.notes, files };
}

export async function createPrompt(
  svc: Services,
  actor: Actor,
  tuneId: number,
  raw: Record<string, unknown>,
): Promise<Prompt> {
  const tune = await loadVisibleTune(svc, actor, tuneId);
  const { params, notes, files } = await validatePrompt(svc, actor, tune, raw);
  const limits = { maxBytes: svc.config.uploadMaxFileBytes, maxPixels: svc.config.imageMaxPixels };
  const input = files.input
    ? await intakeImage('input_image', files.input, limits)
    : typeof params.input_image_base64 === 'string'
      ? await intakeImage(
          'input_image_base64',
          decodeDataUrl(params.input_image_base64) ?? Buffer.alloc(0),
          limits,
        )
      : undefined;
  const mask = files.mask ? await intakeImage('mask_image', files.mask, limits) : undefined;
  const { input_image_base64: _b64, ...recorded } = params;
  return insertAndSchedule(svc, actor, tune, recorded, notes, { input: input?.data, mask: mask?.data });
}

/** Store a validated prompt; run it now if its tune is trained, fail it if the tune failed, else let it wait. */
export async function insertAndSchedule(
  svc: Services,
  actor: Actor,
  tune: Tune,
  params: Record<string, unknown>,
  notes: string[],
  images: { input?: Buffer; mask?: Buffer } = {},
): Promise<Prompt> {
  const now = nowIso();
  let prompt = await promptsSql.insertPrompt(svc.db, {
    account_id: actor.accountId,
    tune_id: tune.id,
    presentation: actor.presentation,
    text: params.text as string,
    negative_prompt: (params.negative_prompt as string | undefined) ?? null,
    callback: (params.callback as string | undefined) ?? null,
    params: JSON.stringify(params),
    notes: JSON.stringify(notes),
    seed: (params.seed as number | undefined) ?? null,
    num_images: (params.num_images as number | undefined) ?? DEFAULT_NUM_IMAGES,
    status: 'queued',
    progress: 0,
    created_at: now,
    updated_at: now,
  });
  try {
    const keys: { input_image_key?: string; mask_image_key?: string } = {};
    if (images.input)
      await svc.blobs.put((keys.input_image_key = `prompts/${prompt.id}/input`), images.input);
    if (images.mask) await svc.blobs.put((keys.mask_image_key = `prompts/${prompt.id}/mask`), images.mask);
    if (keys.input_image_key || keys.mask_image_key)
      prompt = (await promptsSql.updatePrompt(svc.db, prompt.id, keys)) ?? prompt;
  } catch (e) {
    await svc.blobs.deletePrefix(`prompts/${prompt.id}`);
    await promptsSql.deletePromptRow(svc.db, prompt.id);
    throw e;
  }
  if (tune.status === 'failed') {
    return failPrompt(svc, prompt.id, `the tune failed: ${tune.user_error ?? 'training failed'}`);
  }
  if (tune.trained_at !== null || tune.account_id === null)
    await svc.queue.enqueue({ type: JOB_PROMPT, accountId: actor.accountId, subjectId: prompt.id });
  return prompt;
}

/** Mark a prompt failed (if still live) and queue its callback. */
export async function failPrompt(svc: Services, id: number, message: string): Promise<Prompt> {
  const now = nowIso();
  const p = await promptsSql.transitionPrompt(svc.db, id, LIVE_PROMPT_STATUSES, {
    status: 'failed',
    user_error: message,
    trained_at: now,
  });
  if (p) await enqueuePromptCallback(svc, p);
  return p ?? (await promptsSql.getPrompt(svc.db, id))!;
}

export async function loadOwnPrompt(
  svc: Services,
  actor: Actor,
  id: number,
  tuneId?: number,
): Promise<Prompt> {
  const p = await promptsSql.findOwnPrompt(svc.db, actor.accountId, id);
  if (!p) throw notFound('Prompt not found');
  await checkPromptUnderTune(svc, actor, p, tuneId);
  return p;
}

/** loadOwnPrompt with the prompt's images, read in one query (the GETs clients poll). */
export async function loadOwnPromptWithImages(
  svc: Services,
  actor: Actor,
  id: number,
  tuneId?: number,
): Promise<promptsSql.PromptWithImages> {
  const found = await promptsSql.findOwnPromptWithImages(svc.db, actor.accountId, id);
  if (!found) throw notFound('Prompt not found');
  await checkPromptUnderTune(svc, actor, found.prompt, tuneId);
  return found;
}

/** Under /tunes/:tune_id/prompts/:id the prompt must belong to that tune (its own, a tagged one, or its base). */
async function checkPromptUnderTune(svc: Services, actor: Actor, p: Prompt, tuneId?: number) {
  if (tuneId === undefined || p.tune_id === tuneId || parseTuneTags(p.text).some((t) => t.tuneId === tuneId))
    return;
  const tune = await tunesSql.findVisibleTune(svc.db, actor.accountId, p.tune_id);
  if (tune?.base_tune_id !== tuneId) throw notFound('Prompt not found');
}

export async function cancelPrompt(svc: Services, actor: Actor, id: number): Promise<Prompt> {
  const p = await loadOwnPrompt(svc, actor, id);
  if (isPromptFinal(p.status)) throw new AppError('conflict', `the prompt is already ${p.status}`);
  await svc.queue.cancel(JOB_PROMPT, p.id);
  return (
    (await promptsSql.transitionPrompt(svc.db, p.id, LIVE_PROMPT_STATUSES, {
      status: 'cancelled',
      user_error: null,
      trained_at: nowIso(),
    })) ?? (await promptsSql.getPrompt(svc.db, p.id))!
  );
}

export async function deletePrompt(svc: Services, actor: Actor, id: number, tuneId?: number): Promise<void> {
  const p = await loadOwnPrompt(svc, actor, id, tuneId);
  await svc.queue.cancel(JOB_PROMPT, p.id);
  await svc.blobs.deletePrefix(`prompts/${p.id}`);
  await promptsSql.deletePromptRow(svc.db, p.id);
}
