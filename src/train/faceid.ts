// The `faceid` "trainer" (IP-Adapter FaceID identity tunes): no gradient steps; the tune stores one ArcFace
// embedding per training image (engine/adapter-request.ts format) and prompts use them through the FaceID
// adapter (docs/conditioning.md). Runs at tune creation (domain/instant-tunes.ts).

import { Worker } from 'node:worker_threads';
import { type InstantTrainer, TuneInputError } from '../domain/instant-tunes.ts';
import type { TrainerCapabilities, TrainingImage, TrainingResult } from '../domain/ports.ts';
import { encodeFaceIdEmbeddings } from '../engine/adapter-request.ts';
import { faceIdAvailability, faceIdUnavailableMessage } from '../engine/conditioning.ts';
import { WORKER_BOOTSTRAP } from '../engine/thread-runner.ts';

/**
 * The largest face's ArcFace embedding of each image (null: no face), computed on a thread of its own
 * (faceid-embed-worker.ts): onnxruntime-node runs sessions synchronously on the calling thread (its async `run`
 * only defers the native call to setImmediate), and the detector + ArcFace stalled the API's event loop for
 * 100–300 ms per image even with a tiny stand-in ArcFace. One thread per tune creation: its start (~1 s with the
 * tsx loader and the detector session) is paid once per faceid tune, which is rare.
 */
export function embedFacesOffThread(
  modelsDir: string,
  images: Buffer[],
): Promise<{ embeddings: (Float32Array | null)[]; path: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_BOOTSTRAP, {
      eval: true,
      workerData: { entry: new URL('./faceid-embed-worker.ts', import.meta.url).href, modelsDir, images },
    });
    let settled = false;
    worker.once('message', (m: { error?: string; embeddings?: (Float32Array | null)[]; path?: string }) => {
      settled = true;
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve({ embeddings: m.embeddings ?? [], path: m.path ?? '' });
      void worker.terminate();
    });
    worker.once('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`face embedding thread exited (code ${code})`));
      settled = true;
    });
  });
}

export class FaceIdTrainer implements InstantTrainer {
  readonly name = 'atelier-faceid';
  constructor(private readonly o: { modelsDir: string; branches?: string[] }) {}

  capabilities(): TrainerCapabilities {
    return { branches: this.o.branches ?? ['sd15'], modelTypes: ['faceid'], features: [], mock: false };
  }

  async prepare(images: TrainingImage[]): Promise<TrainingResult> {
    const a = faceIdAvailability(this.o.modelsDir);
    if (!a.available) throw new TuneInputError('model_type', faceIdUnavailableMessage(a));
    const { embeddings, path } = await embedFacesOffThread(
      this.o.modelsDir,
      images.map((i) => i.data),
    );
    const found: Float32Array[] = [];
    for (const [i, img] of images.entries()) {
      const face = embeddings[i];
      if (!face)
        throw new TuneInputError(
          'images',
          `image ${i + 1} (${img.width}x${img.height}): no face found; a faceid tune needs one clear face per image`,
        );
      found.push(face);
    }
    return {
      weights: encodeFaceIdEmbeddings(found, path),
      notes: [`faceid: ${found.length} face embedding(s) stored`],
    };
  }

  async train(): Promise<TrainingResult> {
    throw new Error('faceid tunes are ready at creation; there is nothing to train');
  }
}
