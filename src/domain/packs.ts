// Packs (CLIENTS.md items 34–36): named sets of prompt templates, one list per subject class (`man`, `woman`, …),
// written with the pack's trigger word (`ohwx woman, …`) and `{{characteristics}}` placeholders. Running a pack
// creates a tune (or reuses existing ones) plus one prompt per template; the prompts wait for training and then run.
// A pack run can carry `prompts_callback`, POSTed once with every prompt when all of them are final.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { presentPrompt } from '../api/presenters/prompt.ts';
import { nowIso } from '../store/db.ts';
import type { Pack, PackFields, PackPromptFields } from '../store/packs.ts';
import * as packsSql from '../store/packs.ts';
import * as promptsSql from '../store/prompts.ts';
import type { Prompt, Tune } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import { insertDelivery } from '../store/webhooks.ts';
import { blankToUndefined, issuesToFields, toNumber, zInt, zStr, zUrl } from './coerce.ts';
import { type Actor, JOB_PROMPT, type Services } from './context.ts';
import { AppError, notFound, validationError } from './errors.ts';
import { isPromptFinal } from './lifecycle.ts';
import { promptAttributesSchema, promptFields } from './prompt-schema.ts';
import { containsWord } from './prompt-text.ts';
import { insertAndSchedule, validatePrompt } from './prompts.ts';
import { checkCallback, createTune, defaultBranch, loadOwnTune } from './tunes.ts';

export const DEFAULT_PACK_TOKEN = 'ohwx';

// ---------------------------------------------------------------------------------------------------------------
// Pack definitions (operator files and POST /packs)

const slugString = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,79}$/, 'lower-case letters, digits and -, at most 80 characters');
const className = z.string().regex(/^[\p{L}\p{N} _-]{1,100}$/u, 'must be a class noun');

/** A template: a bare text, or an object with `text` and any prompt fields (num_images, negative_prompt, …). */
const templateSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { text: v } : v),
  z.object({ text: z.string().min(1).max(20_000) }).passthrough(),
);

export const packDefinitionSchema = z.object({
  slug: z.preprocess(blankToUndefined, slugString.optional()),
  title: z.preprocess(blankToUndefined, z.string().min(1).max(300)),
  subtitle: zStr('Subtitle', 300),
  description: zStr('Description', 5000),
  cover_url: zUrl('Cover image URL'),
  base_tune_id: zInt(1, Number.MAX_SAFE_INTEGER, 'Base model tune id'),
  model_type: z.preprocess(
    (v) => (v === null || v === 'null' ? undefined : blankToUndefined(v)),
    z.enum(['lora', 'faceid', 'pti', 'checkpoint']).optional(),
  ),
  token: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_]{1,32}$/)
      .optional(),
  ),
  main_class_name: z.preprocess(blankToUndefined, className.optional()),
  prompts: z.preprocess(blankToUndefined, z.record(className, z.array(templateSchema)).optional()),
});

export type PackDefinition = z.output<typeof packDefinitionSchema>;

export function slugify(title: string): string {
  const s = title
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return s || 'pack';
}

/**
 * Check a definition and split it into the pack row and its prompt rows. Every template must use the pack's trigger
 * word (it becomes the tune's token when the pack runs) and be a valid prompt; errors name the class and position.
 */
export function compilePack(
  def: PackDefinition,
  slug: string,
): { fields: PackFields; prompts: PackPromptFields[] } {
  const token = def.token ?? DEFAULT_PACK_TOKEN;
  const errors: Record<string, string[]> = {};
  const prompts: PackPromptFields[] = [];
  for (const [cls, templates] of Object.entries(def.prompts ?? {}))
    templates.forEach((t, i) => {
      const at = `prompts.${cls}.${i}`;
      if (!containsWord(t.text, token))
        (errors[`${at}.text`] ??= []).push(
          `must contain the pack's trigger word "${token}" (e.g. "${token} ${cls}")`,
        );
      const parsed = promptAttributesSchema.safeParse(t);
      if (!parsed.success) Object.assign(errors, issuesToFields(parsed.error.issues, `${at}.`));
      else {
        const { text, ...attributes } = parsed.data;
        prompts.push({ class_name: cls, text, attributes: dropUndefined(attributes) });
      }
    });
  if (Object.keys(errors).length) throw validationError(errors);
  const classes = Object.keys(def.prompts ?? {});
  return {
    fields: {
      slug,
      title: def.title,
      subtitle: def.subtitle ?? null,
      description: def.description ?? null,
      cover_url: def.cover_url ?? null,
      base_tune_id: def.base_tune_id ?? null,
      model_type: def.model_type === 'checkpoint' ? null : (def.model_type ?? null),
      token,
      main_class_name: def.main_class_name ?? classes[0] ?? null,
    },
    prompts,
  };
}

const dropUndefined = (o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** POST /packs: an account's own pack (CLIENTS.md item 36). The slug is derived from the title unless given. */
export async function createPack(svc: Services, actor: Actor, raw: Record<string, unknown>): Promise<Pack> {
  const parsed = packDefinitionSchema.safeParse(raw);
  if (!parsed.success) throw validationError(issuesToFields(parsed.error.issues));
  const def = parsed.data;
  if (
    def.base_tune_id !== undefined &&
    !(await tunesSql.findVisibleTune(svc.db, actor.accountId, def.base_tune_id))
  )
    throw validationError({ base_tune_id: [`tune ${def.base_tune_id} not found`] });
  let slug = def.slug;
  if (slug && (await packsSql.slugTaken(svc.db, slug)))
    throw new AppError('conflict', `slug "${slug}" is taken`);
  if (!slug) {
    const base = slugify(def.title);
    slug = base;
    for (let n = 2; await packsSql.slugTaken(svc.db, slug); n++) slug = `${base}-${n}`;
  }
  const { fields, prompts } = compilePack(def, slug);
  return packsSql.insertPack(svc.db, actor.accountId, fields, prompts);
}

const PACK_FILE_EXTENSIONS = ['.json', '.yaml', '.yml'];

/**
 * Load gallery packs from a JSON or YAML file (or every `*.json`/`*.yaml`/`*.yml` of a folder, in name order):
 * `{"packs": [<definition>, …]}` or a bare list. Each pack is keyed by its slug (required here), so loading the file
 * again updates the packs in place. Returns the loaded slugs.
 */
export async function loadPacksFile(db: Services['db'], file: string): Promise<string[]> {
  if (statSync(file).isDirectory()) {
    const loaded: string[] = [];
    for (const name of readdirSync(file)
      .filter((n) => PACK_FILE_EXTENSIONS.includes(extname(n).toLowerCase()))
      .sort())
      loaded.push(...(await loadPacksFile(db, join(file, name))));
    return loaded;
  }
  let doc: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    doc = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new Error(`packs file ${file}: ${(e as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { packs?: unknown })?.packs;
  if (!Array.isArray(list))
    throw new Error(`packs file ${file}: expected {"packs": [...]} or an array of packs`);
  const loaded: string[] = [];
  for (const [i, item] of list.entries()) {
    const parsed = packDefinitionSchema.safeParse(item);
    const where = `packs file ${file}, pack ${i}`;
    if (!parsed.success) throw new Error(`${where}: ${JSON.stringify(issuesToFields(parsed.error.issues))}`);
    if (!parsed.data.slug) throw new Error(`${where}: a gallery pack needs a "slug"`);
    let compiled: ReturnType<typeof compilePack>;
    try {
      compiled = compilePack(parsed.data, parsed.data.slug);
    } catch (e) {
      throw new Error(`${where} (${parsed.data.slug}): ${JSON.stringify((e as AppError).fields ?? e)}`);
    }
    await packsSql.upsertGalleryPack(db, compiled.fields, compiled.prompts);
    loaded.push(parsed.data.slug);
  }
  return loaded;
}

export async function loadVisiblePack(svc: Services, actor: Actor, slugOrId: string): Promise<Pack> {
  const pack = await packsSql.findVisiblePack(svc.db, actor.accountId, slugOrId);
  if (!pack) throw notFound('Pack not found');
  return pack;
}

// ---------------------------------------------------------------------------------------------------------------
// Running a pack: POST /p/:slug_or_id/tunes (CLIENTS.md item 35)

/** `prompt_attributes` overrides: every prompt field except the text, as an object (or a JSON-encoded string). */
const overridesSchema = z.preprocess((v) => {
  v = blankToUndefined(v);
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}, z.object(promptFields).omit({ text: true }).partial().passthrough().optional());

const idList = z.preprocess((v) => {
  v = blankToUndefined(v);
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(toNumber).filter((x) => x !== undefined);
}, z.array(z.number().int().positive()).optional());

const runFieldsSchema = z.object({
  prompt_attributes: overridesSchema,
  tune_ids: idList,
  prompt_ids: idList,
  prompts_callback: zUrl('URL POSTed once with every prompt of the run when all are final'),
});

/** The run fields may sit inside `tune` (multipart `tune[prompt_attributes][callback]`) or beside it. */
export function packRunInput(body: unknown, tune: Record<string, unknown>) {
  const top = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const pick = (k: string) => tune[k] ?? top[k];
  const raw = {
    // Astria documents `prompt_attributes`; accept the tune's `prompts_attributes` spelling when it is an object.
    prompt_attributes:
      pick('prompt_attributes') ??
      (isPlainObject(pick('prompts_attributes')) ? pick('prompts_attributes') : undefined),
    tune_ids: pick('tune_ids'),
    prompt_ids: pick('prompt_ids'),
    prompts_callback: pick('prompts_callback'),
  };
  const parsed = runFieldsSchema.safeParse(raw);
  if (!parsed.success) throw validationError(issuesToFields(parsed.error.issues));
  const rest = { ...tune };
  for (const k of ['prompt_attributes', 'tune_ids', 'prompt_ids', 'prompts_callback']) delete rest[k];
  if (isPlainObject(rest.prompts_attributes)) delete rest.prompts_attributes;
  return { run: parsed.data, tune: rest };
}

const isPlainObject = (v: unknown) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/** The pack's templates for one class (and the requested subset), as prompt parameters for a tune. */
async function templatesFor(svc: Services, pack: Pack, cls: string, promptIds: number[] | undefined) {
  const all = await packsSql.listPackPrompts(svc.db, [pack.id]);
  const classes = [...new Set(all.map((p) => p.class_name))];
  let mine = all.filter((p) => p.class_name === cls);
  if (!mine.length)
    throw validationError({
      name: [
        `pack "${pack.slug}" has no prompts for class "${cls}" (classes: ${classes.join(', ') || 'none'})`,
      ],
    });
  if (promptIds) {
    const unknown = promptIds.filter((id) => !mine.some((p) => p.id === id));
    if (unknown.length)
      throw validationError({
        prompt_ids: [`not prompts of this pack for class "${cls}": ${unknown.join(', ')}`],
      });
    mine = mine.filter((p) => promptIds.includes(p.id));
  }
  return mine;
}

/** The template's trigger word becomes the tune's own token (whole words only). */
export function adaptText(text: string, packToken: string, tuneToken: string): string {
  if (packToken === tuneToken) return text;
  const esc = packToken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(
    new RegExp(`(^|[^\\p{L}\\p{N}_])${esc}(?=$|[^\\p{L}\\p{N}_])`, 'giu'),
    `$1${tuneToken}`,
  );
}

/**
 * `{{key}}` placeholders the tune has no characteristic for are removed with their separating comma, so a pack
 * written for optional characteristics never sends literal braces to the generator. Known ones stay as they are:
 * the prompt job fills them from the tune's characteristics when it runs.
 */
export function dropUnknownPlaceholders(text: string, characteristics: Record<string, string>): string {
  return text
    .replace(/\s*,?\s*\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (whole, key: string) =>
      Object.hasOwn(characteristics, key) ? whole : '',
    )
    .trim();
}

interface PlannedPrompt {
  tune: Tune;
  params: Record<string, unknown>;
  notes: string[];
}

/** Validate every prompt of the run against its tune before anything is written. */
async function planPrompts(
  svc: Services,
  actor: Actor,
  pack: Pack,
  tune: Tune,
  run: z.output<typeof runFieldsSchema>,
): Promise<PlannedPrompt[]> {
  const planned: PlannedPrompt[] = [];
  for (const t of await templatesFor(svc, pack, tune.name, run.prompt_ids)) {
    const raw = {
      ...(JSON.parse(t.attributes) as Record<string, unknown>),
      ...dropUndefined(run.prompt_attributes ?? {}),
      text: dropUnknownPlaceholders(
        adaptText(t.text, pack.token, tune.token),
        JSON.parse(tune.characteristics) as Record<string, string>,
      ),
    };
    try {
      const { params, notes } = await validatePrompt(svc, actor, tune, raw);
      planned.push({ tune, params, notes });
    } catch (e) {
      if (e instanceof AppError && e.fields)
        throw new AppError(
          e.code,
          `pack prompt ${t.id}: ${e.message}`,
          Object.fromEntries(Object.entries(e.fields).map(([k, v]) => [`pack_prompts.${t.id}.${k}`, v])),
        );
      throw e;
    }
  }
  return planned;
}

/** A stand-in for the tune about to be created, so the prompts can be validated before the tune exists. */
async function draftTune(svc: Services, actor: Actor, input: Record<string, unknown>): Promise<Tune> {
  const str = (k: string) => {
    const v = blankToUndefined(input[k]);
    return typeof v === 'string' ? v : undefined;
  };
  const baseId = toNumber(input.base_tune_id);
  const base =
    typeof baseId === 'number' ? await tunesSql.findVisibleTune(svc.db, actor.accountId, baseId) : undefined;
  const now = nowIso();
  return {
    id: -1,
    account_id: actor.accountId,
    presentation: actor.presentation,
    title: str('title') ?? '',
    name: str('name') ?? '',
    token: str('token') ?? 'ohwx',
    branch: str('branch') ?? base?.branch ?? defaultBranch(svc),
    model_type: null,
    base_tune_id: base?.id ?? null,
    steps: null,
    face_crop: null,
    training_face_correct: null,
    callback: null,
    characteristics: '{}',
    args: '{}',
    pending_image_urls: '[]',
    status: 'queued',
    progress: 0,
    phase: null,
    user_error: null,
    eta: null,
    started_training_at: null,
    trained_at: null,
    failed_at: null,
    expires_at: null,
    created_at: now,
    updated_at: now,
  };
}

export interface PackRunResult {
  tune: Tune;
  created: boolean;
  prompts: Prompt[];
}

export async function runPack(
  svc: Services,
  actor: Actor,
  pack: Pack,
  body: unknown,
  tuneInput: Record<string, unknown>,
): Promise<PackRunResult> {
  const { run, tune: input } = packRunInput(body, tuneInput);
  await checkCallback(svc, 'prompts_callback', run.prompts_callback);
  if (run.tune_ids?.length) return runOnExistingTunes(svc, actor, pack, run);

  // The pack decides the base model and model type unless the request does.
  if (blankToUndefined(input.base_tune_id) === undefined && pack.base_tune_id !== null)
    input.base_tune_id = pack.base_tune_id;
  if (blankToUndefined(input.model_type) === undefined && pack.model_type !== null)
    input.model_type = pack.model_type;
  const existing =
    typeof input.title === 'string' && (await tunesSql.findTuneByTitle(svc.db, actor.accountId, input.title));
  if (existing) return { tune: existing, created: false, prompts: [] }; // idempotent replay: no second set of prompts

  if (typeof input.name !== 'string' || !input.name.trim()) throw validationError({ name: ['is required'] });
  const draft = await draftTune(svc, actor, input);
  await planPrompts(svc, actor, pack, draft, run); // fail before the tune exists
  const { tune, created } = await createTune(svc, actor, input);
  if (!created) return { tune, created, prompts: [] };
  const planned = await planPrompts(svc, actor, pack, tune, run);
  const prompts = await schedule(svc, actor, planned);
  await recordRun(svc, actor, pack, tune.id, prompts, run.prompts_callback);
  return { tune: (await tunesSql.getTune(svc.db, tune.id)) ?? tune, created, prompts };
}

/** `tune_ids[]`: no training; the pack's prompts are created on each of the caller's existing tunes. */
async function runOnExistingTunes(
  svc: Services,
  actor: Actor,
  pack: Pack,
  run: z.output<typeof runFieldsSchema>,
): Promise<PackRunResult> {
  const tunes: Tune[] = [];
  for (const id of new Set(run.tune_ids)) {
    try {
      tunes.push(await loadOwnTune(svc, actor, id));
    } catch {
      throw validationError({ tune_ids: [`tune ${id} not found`] });
    }
  }
  const planned: PlannedPrompt[] = [];
  for (const t of tunes) {
    if (t.status === 'failed') throw validationError({ tune_ids: [`tune ${t.id} failed training`] });
    planned.push(...(await planPrompts(svc, actor, pack, t, run)));
  }
  const prompts = await schedule(svc, actor, planned);
  await recordRun(svc, actor, pack, tunes[0].id, prompts, run.prompts_callback);
  return { tune: tunes[0], created: true, prompts };
}

/**
 * Insert the prompts; each runs at once if its tune is trained, else waits for training. A tune that finishes
 * training while we insert may already have released its waiting prompts: any of ours still queued without a job
 * then gets one here.
 */
async function schedule(svc: Services, actor: Actor, planned: PlannedPrompt[]): Promise<Prompt[]> {
  const out: Prompt[] = [];
  for (const p of planned) {
    const fresh = (await tunesSql.getTune(svc.db, p.tune.id)) ?? p.tune;
    out.push(await insertAndSchedule(svc, actor, fresh, p.params, p.notes));
  }
  // Ask the queue, not the embedded jobs table: in pg-boss mode that table is empty.
  const withJob = await svc.queue.subjectsWithJobs(
    JOB_PROMPT,
    out.map((p) => p.id),
  );
  for (const p of out) {
    if (withJob.has(p.id)) continue;
    const [now, tune] = [await promptsSql.getPrompt(svc.db, p.id), await tunesSql.getTune(svc.db, p.tune_id)];
    if (now?.status === 'queued' && tune?.trained_at)
      await svc.queue.enqueue({ type: JOB_PROMPT, accountId: actor.accountId, subjectId: p.id });
  }
  return out;
}

async function recordRun(
  svc: Services,
  actor: Actor,
  pack: Pack,
  tuneId: number,
  prompts: Prompt[],
  prompts_callback: string | undefined,
) {
  if (!prompts_callback) return;
  const run = await packsSql.insertPackRun(svc.db, {
    account_id: actor.accountId,
    pack_id: pack.id,
    tune_id: tuneId,
    prompt_ids: JSON.stringify(prompts.map((p) => p.id)),
    prompts_callback,
  });
  // Every prompt may already be final (a failed tune fails its waiting prompts at once).
  await firePackCallbackIfDone(svc, run);
}

// ---------------------------------------------------------------------------------------------------------------
// prompts_callback: called from the prompt callback hook (domain/callbacks.ts) whenever a prompt becomes final.

export async function onPromptFinal(svc: Services, prompt: Prompt): Promise<void> {
  for (const run of await packsSql.listOpenRunsOfAccount(svc.db, prompt.account_id))
    if ((JSON.parse(run.prompt_ids) as number[]).includes(prompt.id)) await firePackCallbackIfDone(svc, run);
}

async function firePackCallbackIfDone(svc: Services, run: packsSql.PackRun): Promise<void> {
  const ids = JSON.parse(run.prompt_ids) as number[];
  const prompts = (await Promise.all(ids.map((id) => promptsSql.getPrompt(svc.db, id)))).filter(
    (p): p is Prompt => p !== undefined,
  );
  if (!run.prompts_callback || prompts.some((p) => !isPromptFinal(p.status))) return;
  if (!(await packsSql.claimRunCallback(svc.db, run.id))) return; // another finishing prompt sent it
  const images = await promptsSql.listImagesFor(svc.db, ids);
  const ctx = { baseUrl: svc.config.publicBaseUrl, signer: svc.signer };
  // Astria documents this body as "an array of prompt objects": a bare JSON array, each prompt as the API shows it.
  const body = prompts.map((p) =>
    presentPrompt(
      p,
      images.filter((i) => i.prompt_id === p.id),
      p.presentation,
      ctx,
    ),
  );
  await insertDelivery(svc.db, {
    account_id: run.account_id,
    event_id: `msg_${randomUUID().replace(/-/g, '')}`,
    event_type: 'pack.prompts_done',
    subject_id: run.id,
    url: run.prompts_callback,
    body: JSON.stringify(body),
  });
  svc.notifyWebhook();
}
