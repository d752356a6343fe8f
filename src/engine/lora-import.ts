// LoRA import on the real branch: a LoRA file must fit the installed base model it will be applied to. The base
// model tune is resolved like a prompt's (ModelResolver.baseModel), its checkpoint opened for its tensor names and
// shapes only (headers; no weights are read), and the file checked against them (checkpoint/lora-check.ts).

import type { LoraFileInfo } from '../domain/ports.ts';
import { LoraRejectedError } from '../domain/ports.ts';
import { checkLoraFile, LoraCheckError } from './checkpoint/lora-check.ts';
import { openCheckpoint } from './checkpoint/open.ts';
import type { ModelResolver } from './sd-generator.ts';

export async function checkLoraOnBase(
  resolver: ModelResolver,
  branch: string,
  data: Buffer,
  baseTuneId: number | null,
  field: string,
): Promise<LoraFileInfo> {
  if (baseTuneId === null)
    throw new LoraRejectedError(
      'base_tune_id',
      `is required to import a LoRA on branch ${branch}: the id of the installed base model tune the LoRA was made for`,
    );
  let spec: Awaited<ReturnType<ModelResolver['baseModel']>>;
  try {
    spec = await resolver.baseModel({
      id: baseTuneId,
      branch,
      modelType: null,
      token: '',
      name: '',
      weightsKey: null,
    });
  } catch (e) {
    throw new LoraRejectedError('base_tune_id', (e as Error).message);
  }
  const ck = openCheckpoint(spec.path);
  try {
    if (!ck.unet) throw new LoraRejectedError('base_tune_id', `base model ${spec.key} has no UNet weights`);
    return checkLoraFile(data, field, {
      label: `base model ${spec.key} (tune ${baseTuneId}, ${branch})`,
      unet: ck.unet.source,
      text_encoder: ck.text_encoder?.source,
    });
  } catch (e) {
    if (e instanceof LoraCheckError) throw new LoraRejectedError(field, e.message);
    throw e;
  } finally {
    ck.close();
  }
}
