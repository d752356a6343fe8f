// What a prompt asks of the image-prompt adapters (pipeline/ip-adapter.ts), resolved for the runner:
// `controlnet` = ipadapter / reference / composition (the input image is the image prompt,
// controlnet_conditioning_scale the adapter scale), or FaceID (a `<faceid:ID:w>` tag, or a prompt posted to a
// faceid tune: the identity stored with the tune, the tag's weight as the adapter scale).
// Also the stored form of a faceid tune's identity: a .safetensors with `faceid.embeddings` [n, D] (one
// L2-normalised ArcFace embedding per training image), kept as the tune's weights blob.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GenerationRequest } from '../domain/ports.ts';
import { parseTuneTags } from '../domain/prompt-text.ts';
import { SafetensorsFile, writeSafetensors } from './checkpoint/safetensors.ts';
import {
  type ConditioningStatus,
  faceIdAvailability,
  faceIdUnavailableMessage,
  unavailableMessage,
} from './conditioning.ts';
import type { AdapterRequest } from './pipeline/ip-adapter.ts';

export const FACEID_TENSOR = 'faceid.embeddings';

/** The faceid tune ids a prompt uses, with their weights: its tags, plus its own tune when that is a faceid tune. */
export function faceIdTags(req: Pick<GenerationRequest, 'text' | 'tune'>): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of parseTuneTags(req.text))
    if (t.kind === 'faceid') out.set(t.tuneId, (out.get(t.tuneId) ?? 0) + t.weight);
  if (req.tune.modelType === 'faceid' && !out.has(req.tune.id)) out.set(req.tune.id, 1);
  return out;
}

/** A faceid tune's identity as the bytes of its weights file. */
export function encodeFaceIdEmbeddings(embeddings: Float32Array[], embedder: string): Buffer {
  if (!embeddings.length) throw new Error('a faceid tune needs at least one face embedding');
  const D = embeddings[0].length;
  const data = new Float32Array(embeddings.length * D);
  embeddings.forEach((e, i) => {
    if (e.length !== D) throw new Error('face embeddings of different widths');
    data.set(e, i * D);
  });
  const dir = mkdtempSync(join(tmpdir(), 'atelier-faceid-'));
  try {
    const path = join(dir, 'faceid.safetensors');
    writeSafetensors(path, [{ name: FACEID_TENSOR, dtype: 'F32', shape: [embeddings.length, D], data }], {
      format: 'atelier-faceid',
      embedder,
    });
    return readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The embeddings stored by encodeFaceIdEmbeddings. */
export function readFaceIdEmbeddings(path: string): Float32Array[] {
  const f = SafetensorsFile.open(path);
  try {
    if (!f.tensors.has(FACEID_TENSOR))
      throw new Error(`${path} holds no ${FACEID_TENSOR}: not a faceid tune's identity`);
    const [n, D] = f.tensors.get(FACEID_TENSOR)?.shape ?? [];
    const all = f.readFloat32(FACEID_TENSOR);
    return Array.from({ length: n }, (_, i) => all.slice(i * D, (i + 1) * D));
  } finally {
    f.close();
  }
}

/**
 * The adapter request of a prompt, or undefined when it uses none. Throws (the prompt fails with the text)
 * when the adapter is not installed, or for combinations the engine does not run.
 */
export async function adapterRequestOf(
  req: GenerationRequest,
  statuses: ConditioningStatus[],
  modelsDir: string | undefined,
  weightsFile: (tuneId: number) => Promise<{ path: string } | null>,
): Promise<AdapterRequest | undefined> {
  const faces = faceIdTags(req);
  const status = req.controlnet ? statuses.find((s) => s.type === req.controlnet) : undefined;
  const image = status?.kind === 'ip-adapter' ? status : undefined;
  if (faces.size && req.controlnet)
    throw new Error('FaceID cannot be combined with controlnet in one prompt (one adapter per generation)');
  if (faces.size > 1) throw new Error(`one faceid tune per prompt (got ${[...faces.keys()].join(', ')})`);
  if (faces.size && req.maskImage) throw new Error('a mask cannot be combined with FaceID');
  if (image) {
    if (!image.available || !image.adapterPath) throw new Error(unavailableMessage(image));
    return {
      type: image.type as AdapterRequest['type'],
      adapterPath: image.adapterPath,
      imageEncoderDir: image.imageEncoderDir,
      scale: req.controlnetConditioningScale ?? undefined,
      txt2img: req.controlnetTxt2img,
    };
  }
  const [face] = [...faces];
  if (!face) return undefined;
  const [tuneId, weight] = face;
  if (!modelsDir) throw new Error('FaceID needs the models directory');
  const a = faceIdAvailability(modelsDir);
  if (!a.available) throw new Error(faceIdUnavailableMessage(a));
  const file = await weightsFile(tuneId);
  if (!file) throw new Error(`tune ${tuneId} has no stored face identity (is it a faceid tune?)`);
  return {
    type: 'faceid',
    adapterPath: a.adapterPath,
    faceEmbeddings: readFaceIdEmbeddings(file.path),
    scale: weight,
    txt2img: false,
  };
}
