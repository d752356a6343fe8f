// Tunes that need no gradient steps (model_type faceid): their trainer computes what the tune stores while the
// create request is answered, so the tune is `trained` when it is created and a problem with the images or the
// installation is a 422 on that request, with nothing stored.

import { nowIso } from '../store/db.ts';
import type { Tune } from '../store/schema.ts';
import * as tunesSql from '../store/tunes.ts';
import type { Services } from './context.ts';
import { validationError } from './errors.ts';
import type { Trainer, TrainingImage, TrainingResult } from './ports.ts';

/** A trainer whose tunes are ready at creation. */
export interface InstantTrainer extends Trainer {
  /** The stored result for these images (throws TuneInputError for a 422 on a field). */
  prepare(
    images: TrainingImage[],
    tune: { branch: string; modelType: string | null },
  ): Promise<TrainingResult>;
}

export function isInstantTrainer(t: Trainer): t is InstantTrainer {
  return typeof (t as Partial<InstantTrainer>).prepare === 'function';
}

/** A create request the trainer cannot take: `field` (e.g. images, model_type) with the reason. */
export class TuneInputError extends Error {
  override name = 'TuneInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Runs an instant trainer on the create request's images; its TuneInputError becomes the request's 422.
 * `urlCount`: images given as image_urls, which are only fetched later (by the train job), so refused here.
 */
export async function prepareInstantTune(
  trainer: InstantTrainer,
  images: TrainingImage[],
  tune: { branch: string; modelType: string | null },
  urlCount: number,
): Promise<TrainingResult> {
  if (urlCount)
    throw validationError({
      image_urls: [
        `${tune.modelType} tunes are ready at creation: upload the images with the request (image_urls are fetched later)`,
      ],
    });
  try {
    return await trainer.prepare(images, tune);
  } catch (e) {
    if (e instanceof TuneInputError) throw validationError({ [e.field]: [e.message] });
    throw e;
  }
}

/** Stores the prepared result as the tune's weights and marks it trained (as the train job does). */
export async function markTrainedAtCreation(
  svc: Services,
  tune: Tune,
  result: TrainingResult,
): Promise<Tune> {
  const key = `tunes/${tune.id}/weights.safetensors`;
  if (result.weights) await svc.blobs.put(key, result.weights);
  const args = JSON.parse(tune.args) as { notes?: string[] };
  const trained = await tunesSql.updateTune(svc.db, tune.id, {
    status: 'trained',
    progress: 1,
    trained_at: nowIso(),
    args: JSON.stringify({ ...args, notes: [...(args.notes ?? []), ...result.notes] }),
  });
  if (!trained) throw new Error(`tune ${tune.id} vanished while it was being created`);
  return trained;
}
