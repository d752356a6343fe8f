// The `train` job: download pending image_urls (through the guarded fetcher and image intake), run the branch's
// trainer, mark the tune trained, turn prompts_attributes into prompts and release prompts that were waiting.

import { enqueueTuneCallback } from '../domain/callbacks.ts';
import type { Services } from '../domain/context.ts';
import { trainerFor } from '../domain/ports.ts';
import { failPrompt } from '../domain/prompts.ts';
import { tuneWeightsKey, withCkpt } from '../domain/tune-import.ts';
import { tuneReady } from '../domain/tune-ready.ts';
import { nowIso } from '../store/db.ts';
import * as promptsSql from '../store/prompts.ts';
import type { Tune } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import { fetchImage } from './fetch-image.ts';
import { PermanentJobError } from './queue.ts';
import type { JobHandler } from './worker.ts';

/** Download every pending URL first, then store them all: a failed URL leaves nothing half-stored. */
async function fetchPendingImages(svc: Services, tune: Tune, signal: AbortSignal): Promise<void> {
  const urls = JSON.parse(tune.pending_image_urls) as string[];
  if (!urls.length) return;
  const got = [];
  for (const [i, url] of urls.entries()) {
    signal.throwIfAborted();
    await tunesSql.updateTune(svc.db, tune.id, { phase: 'downloading', progress: i / urls.length / 10 });
    got.push({ url, img: await fetchImage(svc, url, `image_urls[${i}] (${url})`) });
  }
  const start = (await tunesSql.listTuneImages(svc.db, tune.id)).length;
  const rows = [];
  for (const [i, { url, img }] of got.entries()) {
    const key = `tunes/${tune.id}/images/${start + i}.${img.format === 'jpeg' ? 'jpg' : img.format}`;
    await svc.blobs.put(key, img.data);
    rows.push({
      tune_id: tune.id,
      position: start + i,
      blob_key: key,
      format: img.format,
      width: img.width,
      height: img.height,
      source_url: url,
    });
  }
  await tunesSql.insertTuneImages(svc.db, rows);
  await tunesSql.updateTune(svc.db, tune.id, { pending_image_urls: '[]' });
}

export function trainJob(svc: Services): JobHandler {
  return {
    async perform(job, { signal }) {
      let tune = await tunesSql.getTune(svc.db, job.subjectId);
      if (!tune || tune.status === 'trained' || tune.status === 'failed') return;
      tune = (await tunesSql.updateTune(svc.db, tune.id, {
        status: 'training',
        started_training_at: tune.started_training_at ?? nowIso(),
      }))!;
      await fetchPendingImages(svc, tune, signal);
      const trainer = trainerFor(svc.engines, tune.branch, tune.model_type);
      if (!trainer) throw new PermanentJobError(`no trainer is installed for branch "${tune.branch}"`);
      const stored = await tunesSql.listTuneImages(svc.db, tune.id);
      const images = [];
      for (const i of stored)
        images.push({
          data: (await svc.blobs.get(i.blob_key))!,
          format: i.format,
          width: i.width,
          height: i.height,
        });
      let lastWrite = 0;
      const result = await trainer.train(
        {
          tuneId: tune.id,
          branch: tune.branch,
          modelType: tune.model_type,
          token: tune.token,
          name: tune.name,
          steps: tune.steps ?? 0,
          faceCrop: tune.face_crop === 1,
          trainingFaceCorrect: tune.training_face_correct === 1,
          baseTuneId: tune.base_tune_id,
          images,
        },
        {
          signal,
          onProgress: (e) => {
            if (Date.now() - lastWrite < 200 && e.step < e.total) return;
            lastWrite = Date.now();
            void tunesSql
              .updateTune(svc.db, job.subjectId, {
                phase: e.phase,
                progress: 0.1 + (0.9 * e.step) / e.total,
                // Astria's `eta` is the expected end time; trainers that estimate it report seconds left.
                ...(e.etaSeconds !== undefined &&
                  Number.isFinite(e.etaSeconds) && {
                    eta: new Date(Date.now() + e.etaSeconds * 1000).toISOString(),
                  }),
              })
              .catch((err) => svc.log.warn({ err, job: job.id }, 'progress write failed'));
          },
        },
      );
      const weightsKey = tuneWeightsKey(job.subjectId);
      if (result.weights) await svc.blobs.put(weightsKey, result.weights);
      const trained = await tunesSql.updateTune(svc.db, job.subjectId, {
        ...(result.weights && { args: withCkpt(tune.args, weightsKey) }),
        status: 'trained',
        trained_at: nowIso(),
        progress: 1,
        phase: null,
      });
      if (!trained) return; // deleted meanwhile
      await tuneReady(svc, trained);
    },

    async onFailed(job, message) {
      const now = nowIso();
      const tune = await tunesSql.updateTune(svc.db, job.subjectId, {
        status: 'failed',
        user_error: message,
        failed_at: now,
        phase: null,
      });
      if (!tune) return;
      for (const p of await promptsSql.listWaitingPrompts(svc.db, tune.id))
        await failPrompt(svc, p.id, `the tune failed: ${message}`);
      await enqueueTuneCallback(svc, tune);
    },
  };
}
