// The `faceid` "trainer" (IP-Adapter FaceID identity tunes): no gradient steps; the tune stores one ArcFace
// embedding per training image (engine/adapter-request.ts format) and prompts use them through the FaceID
// adapter (docs/conditioning.md). Runs at tune creation (domain/instant-tunes.ts).

import { type InstantTrainer, TuneInputError } from '../domain/instant-tunes.ts';
import type { TrainerCapabilities, TrainingImage, TrainingResult } from '../domain/ports.ts';
import { encodeFaceIdEmbeddings } from '../engine/adapter-request.ts';
import { faceIdAvailability, faceIdUnavailableMessage } from '../engine/conditioning.ts';
import { openFaceEmbedder } from '../post/faces/embedding.ts';

export class FaceIdTrainer implements InstantTrainer {
  readonly name = 'atelier-faceid';
  constructor(private readonly o: { modelsDir: string; branches?: string[] }) {}

  capabilities(): TrainerCapabilities {
    return { branches: this.o.branches ?? ['sd15'], modelTypes: ['faceid'], features: [], mock: false };
  }

  async prepare(images: TrainingImage[]): Promise<TrainingResult> {
    const a = faceIdAvailability(this.o.modelsDir);
    if (!a.available) throw new TuneInputError('model_type', faceIdUnavailableMessage(a));
    const embedder = await openFaceEmbedder(this.o.modelsDir);
    try {
      const found: Float32Array[] = [];
      for (const [i, img] of images.entries()) {
        const face = await embedder.embedLargest(img.data);
        if (!face)
          throw new TuneInputError(
            'images',
            `image ${i + 1} (${img.width}x${img.height}): no face found; a faceid tune needs one clear face per image`,
          );
        found.push(face.embedding);
      }
      return {
        weights: encodeFaceIdEmbeddings(found, embedder.path),
        notes: [`faceid: ${found.length} face embedding(s) stored`],
      };
    } finally {
      await embedder.dispose();
    }
  }

  async train(): Promise<TrainingResult> {
    throw new Error('faceid tunes are ready at creation; there is nothing to train');
  }
}
