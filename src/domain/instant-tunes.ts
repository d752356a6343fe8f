// Tunes that need no gradient steps (model_type faceid): their trainer computes what the tune stores while the
// create request is answered, so the tune is `trained` when it is created and a problem with the images or the
// installation is a 422 on that request, with nothing stored.

import type { NormalizedImage } from '../blobs/image-intake.ts';
import { fetchImage } from '../jobs/fetch-image.ts';
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
 * Downloads the request's image URLs now (other tunes leave them to the train job): the same guarded fetcher and
 * image intake as the train job (fetchImage), and any failure is a 422 on the field the URL came from, naming it.
 */
export async function fetchInstantImages(
  svc: Services,
  urls: string[],
  fields: string[],
): Promise<NormalizedImage[]> {
  const out: NormalizedImage[] = [];
  for (const [i, url] of urls.entries()) {
    try {
      out.push(await fetchImage(svc, url, url)); // sequential: bounded memory, as intakeAll
    } catch (e) {
      throw validationError({ [fields[i]]: [(e as Error).message] });
    }
  }
  return out;
}

/** Runs an instant trainer on the create request's images; its TuneInputError becomes the request's 422. */
export async function prepareInstantTune(
  trainer: InstantTrainer,
  images: TrainingImage[],
  tune: { branch: string; modelType: string | null },
): Promise<TrainingResult> {
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
