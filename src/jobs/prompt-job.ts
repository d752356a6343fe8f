// The `prompt` job: resolve every parameter, fetch URL inputs, run the branch's generator, store the images and
// complete the prompt (or fail it with a readable user_error). Cancellation arrives as an aborted signal.
import { extensionFor } from '../blobs/signed-urls.ts';
import { enqueuePromptCallback } from '../domain/callbacks.ts';
import type { Services } from '../domain/context.ts';
import { randomSeed, resolveGeneration } from '../domain/generation.ts';
import { isPromptFinal, LIVE_PROMPT_STATUSES } from '../domain/lifecycle.ts';
import { generatorFor } from '../domain/ports.ts';
import { failPrompt } from '../domain/prompts.ts';
import { nowIso } from '../store/db.ts';
import * as promptsSql from '../store/prompts.ts';
import type { Prompt } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import { fetchImage } from './fetch-image.ts';
import { PermanentJobError } from './queue.ts';
import type { JobHandler } from './worker.ts';

async function inputImage(
  svc: Services,
  key: string | null,
  url: unknown,
  field: string,
): Promise<Buffer | null> {
  if (key) return (await svc.blobs.get(key)) ?? null;
  if (typeof url !== 'string') return null;
  return (await fetchImage(svc, url, field)).data;
}

function progressWriter(svc: Services, id: number) {
  let last = 0;
  return (e: { phase: string; step: number; total: number }) => {
    if (Date.now() - last < 200 && e.step < e.total) return;
    last = Date.now();
    void promptsSql
      .transitionPrompt(svc.db, id, ['processing'], {
        phase: e.phase,
        progress_step: e.step,
        progress_total: e.total,
        progress: e.step / e.total,
      })
      .catch((err) => svc.log.warn({ err, prompt: id }, 'progress write failed'));
  };
}

async function run(svc: Services, prompt: Prompt, signal: AbortSignal): Promise<void> {
  const tune = await tunesSql.getTune(svc.db, prompt.tune_id);
  if (!tune) throw new PermanentJobError('the tune was deleted');
  const generator = generatorFor(svc.engines, tune.branch);
  if (!generator) throw new PermanentJobError(`no image generator is installed for branch "${tune.branch}"`);
  const params = JSON.parse(prompt.params) as Record<string, unknown>;
  const seed = prompt.seed ?? randomSeed();
  const processing = await promptsSql.transitionPrompt(svc.db, prompt.id, LIVE_PROMPT_STATUSES, {
    status: 'processing',
    seed,
    started_training_at: prompt.started_training_at ?? nowIso(),
  });
  if (!processing) return; // cancelled meanwhile
  const req = resolveGeneration(
    params,
    {
      id: tune.id,
      branch: tune.branch,
      modelType: tune.model_type,
      token: tune.token,
      name: tune.name,
      weightsKey: null,
    },
    JSON.parse(tune.characteristics),
    seed,
    {
      input: await inputImage(svc, prompt.input_image_key, params.input_image_url, 'input_image_url'),
      mask: await inputImage(svc, prompt.mask_image_key, params.mask_image_url, 'mask_image_url'),
    },
  );
  const result = await generator.generate(req, { signal, onProgress: progressWriter(svc, prompt.id) });
  signal.throwIfAborted();
  await svc.blobs.deletePrefix(`prompts/${prompt.id}/images`); // a retried attempt replaces earlier output
  const rows = [];
  for (const [i, img] of result.images.entries()) {
    const key = `prompts/${prompt.id}/images/${i}.${extensionFor(img.contentType)}`;
    await svc.blobs.put(key, img.data);
    rows.push({
      prompt_id: prompt.id,
      account_id: prompt.account_id,
      position: i,
      blob_key: key,
      content_type: img.contentType,
      width: img.width,
      height: img.height,
    });
  }
  await promptsSql.deleteImagesOfPrompt(svc.db, prompt.id);
  await promptsSql.insertImages(svc.db, rows); // before `completed`, so a completed prompt always has its images
  const { inputImage: _i, maskImage: _m, tune: _t, ...resolved } = req;
  const notes = [...new Set([...(JSON.parse(prompt.notes) as string[]), ...result.notes])];
  const done = await promptsSql.transitionPrompt(svc.db, prompt.id, ['processing'], {
    status: 'completed',
    resolved: JSON.stringify({
      cfg_scale: result.resolved?.cfgScale ?? resolved.cfgScale,
      // what actually ran: steps 0 / no scheduler are the model's defaults, which only the generator knows
      steps: result.resolved?.steps ?? resolved.steps,
      w: resolved.width,
      h: resolved.height,
      scheduler: result.resolved?.scheduler ?? resolved.scheduler,
      negative_prompt_resolved: resolved.negativePrompt,
      text_resolved: resolved.text,
    }),
    notes: JSON.stringify(notes),
    progress: 1,
    phase: null,
    trained_at: nowIso(),
  });
  if (!done) {
    await promptsSql.deleteImagesOfPrompt(svc.db, prompt.id); // cancelled while finishing
    await svc.blobs.deletePrefix(`prompts/${prompt.id}/images`);
    return;
  }
  await enqueuePromptCallback(svc, done);
}

export function promptJob(svc: Services): JobHandler {
  return {
    async perform(job, { signal }) {
      const prompt = await promptsSql.getPrompt(svc.db, job.subjectId);
      if (!prompt || isPromptFinal(prompt.status)) return;
      await run(svc, prompt, signal);
    },
    async onFailed(job, message) {
      await failPrompt(svc, job.subjectId, message);
    },
    async onCancelled(job) {
      await promptsSql.transitionPrompt(svc.db, job.subjectId, LIVE_PROMPT_STATUSES, {
        status: 'cancelled',
        trained_at: nowIso(),
      });
    },
  };
}
