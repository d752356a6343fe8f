// Tune commands: create (validate → check capabilities → take in images → store → enqueue training), update,
// delete. Handlers call these after authenticating; every query is scoped to the actor's account.
import { IMAGE_MIME_TYPES } from '../blobs/image-intake.ts';
import { OutboundBlockedError } from '../net/guarded-fetch.ts';
import { nowIso } from '../store/db.ts';
import * as promptsSql from '../store/prompts.ts';
import type { Tune } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import { blankToUndefined, issuesToFields } from './coerce.ts';
import { type Actor, JOB_PROMPT, JOB_TRAIN, type Services } from './context.ts';
import { AppError, notFound, validationError } from './errors.ts';
import { checkGeneration } from './generation.ts';
import { collectImageSources, imageUrlsAsText, intakeAll, isUploadedFile } from './image-inputs.ts';
import {
  fetchInstantImages,
  isInstantTrainer,
  markTrainedAtCreation,
  prepareInstantTune,
} from './instant-tunes.ts';
import { installedBranches, trainerFor, trainerGaps } from './ports.ts';
import { triggerWordError } from './prompt-text.ts';
import { isLoraImport, takeInLora, tuneWeightsKey, withCkpt } from './tune-import.ts';
import { tuneReady } from './tune-ready.ts';
import {
  defaultTrainingSteps,
  imageCountRule,
  type TuneCreateInput,
  tuneCreateSchema,
  tunePatchSchema,
} from './tune-schema.ts';

/** Where a blank branch comes from: the base tune's branch, else the configured default, else the first installed. */
export function defaultBranch(svc: Services): string {
  return svc.config.defaultBranch ?? installedBranches(svc.engines)[0] ?? 'fast';
}

/** Checks any URL the server will fetch or call later (callbacks, image URLs) against the outbound policy. */
export async function checkCallback(svc: Services, field: string, url: string | undefined): Promise<void> {
  if (!url) return;
  try {
    await svc.outbound.check(url);
  } catch (e) {
    // A refused target (private address, bad scheme) is the caller's mistake. A DNS failure is not decided yet:
    // delivery retries later, as Astria clients often register callbacks before their host is reachable.
    if (e instanceof OutboundBlockedError)
      throw validationError({ [field]: [`is not allowed: ${e.message}`] });
  }
}

const stringField = (o: object, key: string): string | undefined => {
  const v = (o as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : undefined;
};

export interface CreateTuneResult {
  tune: Tune;
  created: boolean;
}

export async function createTune(
  svc: Services,
  actor: Actor,
  raw: Record<string, unknown>,
): Promise<CreateTuneResult> {
  const parsed = tuneCreateSchema.safeParse({
    ...raw,
    image_urls: imageUrlsAsText(raw.image_urls),
    lora_file: isUploadedFile(raw.lora_file) ? raw.lora_file.data : blankToUndefined(raw.lora_file),
  });
  if (!parsed.success) throw validationError(issuesToFields(parsed.error.issues));
  const input = parsed.data;

  const existing = await tunesSql.findTuneByTitle(svc.db, actor.accountId, input.title);
  if (existing) return { tune: existing, created: false };

  let baseBranch: string | undefined;
  if (input.base_tune_id !== undefined) {
    const base = await tunesSql.findVisibleTune(svc.db, actor.accountId, input.base_tune_id);
    if (!base) throw validationError({ base_tune_id: [`tune ${input.base_tune_id} not found`] });
    baseBranch = base.branch;
  }
  const branch = input.branch ?? baseBranch ?? defaultBranch(svc);
  // A tune is trained for, and generates on, its base model: a model of another family (e.g. an sd15 LoRA on an sd21
  // base) would not fit it. The mock branch has no model, so it goes with any base.
  if (baseBranch !== undefined && branch !== baseBranch && branch !== 'fast' && baseBranch !== 'fast')
    throw validationError({
      base_tune_id: [
        `tune ${input.base_tune_id} is a ${baseBranch} model; a ${branch} tune cannot use it as its base (leave branch blank or use ${baseBranch})`,
      ],
    });
  if (isLoraImport(raw, input))
    return { tune: await importLoraTune(svc, actor, raw, input, branch), created: true };
  const modelType = input.model_type ?? 'lora';
  const storedModelType = modelType === 'checkpoint' ? null : modelType;
  const trainer = trainerFor(svc.engines, branch, storedModelType);
  if (!trainer) {
    const have = installedBranches(svc.engines).join(', ') || 'none';
    throw validationError({
      branch: [
        `no trainer for branch "${branch}" with model_type "${modelType}" is installed (installed: ${have})`,
      ],
    });
  }
  // What the trainer cannot honour: a 422 on a real branch, a recorded note in mock mode (API.md §1).
  const trainerCaps = trainer.capabilities();
  const gaps = trainerGaps(trainerCaps, input);
  if (gaps.length && !trainerCaps.mock)
    throw new AppError(
      'capability_missing',
      undefined,
      Object.fromEntries(
        gaps.map((f) => [f, [`not supported by the installed trainer (branch ${branch}, ${trainer.name})`]]),
      ),
    );
  const notes = gaps.map((f) => `mock: ${f} recorded, not applied`);

  const sources = collectImageSources(raw.images, input.image_urls);
  const count = sources.buffers.length + sources.urls.length;
  if (count === 0)
    throw new AppError('images_missing', undefined, { images: ['must contain at least one image'] });
  const countError = imageCountRule(modelType, count);
  if (countError) throw validationError({ images: [countError] });

  const token = input.token ?? 'ohwx';
  validatePromptsAttributes(svc, input, branch, token);
  await checkCallback(svc, 'callback', input.callback);
  for (const [i, p] of (input.prompts_attributes ?? []).entries())
    for (const f of ['callback', 'input_image_url', 'mask_image_url'] as const)
      await checkCallback(svc, `prompts_attributes.${i}.${f}`, stringField(p, f));
  // Image URLs are fetched later (train job; faceid: below, during this request); a target the policy refuses is a
  // 422 now, not a failed tune.
  for (const [i, url] of sources.urls.entries()) await checkCallback(svc, sources.urlFields[i], url);

  // Decode and clean every uploaded image before anything is written: a bad file stores nothing.
  const limits = { maxBytes: svc.config.uploadMaxFileBytes, maxPixels: svc.config.imageMaxPixels };
  const uploaded = await intakeAll(sources.buffers, limits);
  // faceid: no gradient steps; its image URLs are downloaded and the result computed now (a problem is a 422 and
  // nothing is stored), ready at creation. Other tunes download their URLs in the train job.
  const instant = isInstantTrainer(trainer) ? trainer : undefined;
  const fetched = instant ? await fetchInstantImages(svc, sources.urls, sources.urlFields) : [];
  const images = [
    ...uploaded.map((img) => ({ img, url: null as string | null })),
    ...fetched.map((img, i) => ({ img, url: sources.urls[i] })),
  ];
  const prepared = instant
    ? await prepareInstantTune(
        instant,
        images.map((x) => x.img),
        { branch, modelType: storedModelType },
      )
    : undefined;

  const now = nowIso();
  const tune = await tunesSql.insertTune(svc.db, {
    account_id: actor.accountId,
    presentation: actor.presentation,
    title: input.title,
    name: input.name,
    token,
    branch,
    model_type: storedModelType,
    base_tune_id: input.base_tune_id ?? null,
    steps: input.steps ?? defaultTrainingSteps(count),
    face_crop: input.face_crop === undefined ? null : Number(input.face_crop),
    training_face_correct:
      input.training_face_correct === undefined ? null : Number(input.training_face_correct),
    callback: input.callback ?? null,
    characteristics: JSON.stringify(input.characteristics ?? {}),
    args: JSON.stringify({ ...input, prompts_attributes: input.prompts_attributes ?? [], notes }),
    pending_image_urls: JSON.stringify(instant ? [] : sources.urls),
    status: 'queued',
    progress: 0,
    created_at: now,
    updated_at: now,
  });
  let ready: Tune | undefined;
  try {
    const rows = [];
    for (const [i, { img, url }] of images.entries()) {
      const key = `tunes/${tune.id}/images/${i}.${img.format === 'jpeg' ? 'jpg' : img.format}`;
      await svc.blobs.put(key, img.data);
      rows.push({
        tune_id: tune.id,
        position: i,
        blob_key: key,
        format: img.format,
        ...size(img),
        source_url: url,
      });
    }
    await tunesSql.insertTuneImages(svc.db, rows);
    if (prepared) ready = await markTrainedAtCreation(svc, tune, prepared);
    else await svc.queue.enqueue({ type: JOB_TRAIN, accountId: actor.accountId, subjectId: tune.id });
  } catch (e) {
    await purgeTune(svc, tune.id); // nothing half-stored
    throw e;
  }
  if (ready) {
    await tuneReady(svc, ready); // prompts_attributes, waiting prompts, callback
    return { tune: ready, created: true };
  }
  return { tune, created: true };
}

/** A tune from an existing LoRA file (tune-import.ts): checked, stored, and ready at once. */
async function importLoraTune(
  svc: Services,
  actor: Actor,
  raw: Record<string, unknown>,
  input: TuneCreateInput,
  branch: string,
): Promise<Tune> {
  const token = input.token ?? 'ohwx';
  validatePromptsAttributes(svc, input, branch, token);
  await checkCallback(svc, 'callback', input.callback);
  for (const [i, p] of (input.prompts_attributes ?? []).entries())
    for (const f of ['callback', 'input_image_url', 'mask_image_url'] as const)
      await checkCallback(svc, `prompts_attributes.${i}.${f}`, stringField(p, f));
  const lora = await takeInLora(svc, raw, input, branch);
  const now = nowIso();
  const { lora_file: _file, ...recorded } = input;
  const tune = await tunesSql.insertTune(svc.db, {
    account_id: actor.accountId,
    presentation: actor.presentation,
    title: input.title,
    name: input.name,
    token,
    branch,
    model_type: 'lora',
    base_tune_id: input.base_tune_id ?? null,
    steps: null,
    face_crop: null,
    training_face_correct: null,
    callback: input.callback ?? null,
    characteristics: JSON.stringify(input.characteristics ?? {}),
    args: JSON.stringify({
      ...recorded,
      prompts_attributes: input.prompts_attributes ?? [],
      notes: [],
      lora_import: lora.record,
    }),
    pending_image_urls: '[]',
    status: 'queued',
    progress: 0,
    created_at: now,
    updated_at: now,
  });
  let ready: Tune;
  try {
    await svc.blobs.put(tuneWeightsKey(tune.id), lora.data);
    ready = (await tunesSql.updateTune(svc.db, tune.id, {
      status: 'trained',
      progress: 1,
      trained_at: nowIso(),
      args: withCkpt(tune.args, tuneWeightsKey(tune.id)),
    }))!;
  } catch (e) {
    await purgeTune(svc, tune.id); // nothing half-stored
    throw e;
  }
  await tuneReady(svc, ready);
  return ready;
}

const size = (i: { width: number; height: number }) => ({ width: i.width, height: i.height });

function validatePromptsAttributes(svc: Services, input: TuneCreateInput, branch: string, token: string) {
  const errors: Record<string, string[]> = {};
  for (const [i, p] of (input.prompts_attributes ?? []).entries()) {
    const trig = triggerWordError(p.text, { id: -1, token, name: input.name, isBaseModel: false });
    if (trig) (errors[`prompts_attributes.${i}.text`] ??= []).push(trig);
    const check = checkGeneration(svc.engines, branch, p as Record<string, unknown>, {
      id: null,
      modelType: input.model_type ?? null,
    });
    if ('errors' in check)
      for (const [f, m] of Object.entries(check.errors))
        (errors[`prompts_attributes.${i}.${f}`] ??= []).push(...m);
  }
  if (Object.keys(errors).length) throw validationError(errors);
}

export async function loadOwnTune(svc: Services, actor: Actor, id: number): Promise<Tune> {
  const t = await tunesSql.findOwnTune(svc.db, actor.accountId, id);
  if (!t) throw notFound('Tune not found');
  return t;
}

export async function loadVisibleTune(svc: Services, actor: Actor, id: number): Promise<Tune> {
  const t = await tunesSql.findVisibleTune(svc.db, actor.accountId, id);
  if (!t) throw notFound('Tune not found');
  return t;
}

export async function updateTune(svc: Services, actor: Actor, id: number, raw: Record<string, unknown>) {
  const tune = await loadOwnTune(svc, actor, id);
  const parsed = tunePatchSchema.safeParse(raw);
  if (!parsed.success) throw validationError(issuesToFields(parsed.error.issues));
  const p = parsed.data;
  if (p.title !== undefined && p.title !== tune.title) {
    const clash = await tunesSql.findTuneByTitle(svc.db, actor.accountId, p.title);
    if (clash) throw new AppError('conflict', `another tune is already titled "${p.title}"`);
  }
  return (await tunesSql.updateTune(svc.db, tune.id, {
    ...(p.title !== undefined && { title: p.title }),
    ...(p.name !== undefined && { name: p.name }),
    ...(p.characteristics !== undefined && { characteristics: JSON.stringify(p.characteristics) }),
  }))!;
}

export async function deleteTune(svc: Services, actor: Actor, id: number): Promise<void> {
  const tune = await loadOwnTune(svc, actor, id);
  await svc.queue.cancel(JOB_TRAIN, tune.id);
  await purgeTune(svc, tune.id);
}

/** Remove a tune with its files, its prompts and their images. */
async function purgeTune(svc: Services, tuneId: number): Promise<void> {
  for (const pid of await promptsSql.listPromptIdsOfTune(svc.db, tuneId)) {
    await svc.queue.cancel(JOB_PROMPT, pid);
    await svc.blobs.deletePrefix(`prompts/${pid}`);
    await promptsSql.deletePromptRow(svc.db, pid);
  }
  await svc.blobs.deletePrefix(`tunes/${tuneId}`);
  await tunesSql.deleteTuneRow(svc.db, tuneId);
}

export const tuneImageContentType = (format: string) =>
  IMAGE_MIME_TYPES[format as keyof typeof IMAGE_MIME_TYPES] ?? 'image/jpeg';
