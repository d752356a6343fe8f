// LoRA parameters: initialisation, and the kohya-format .safetensors the generation side loads
// (`lora_unet_<module>.lora_down.weight` [rank, in], `.lora_up.weight` [out, rank], `.alpha` scalar).
// Init as in Hu et al. 2021 (sec. 4.1) and PEFT/kohya: down ~ kaiming-uniform(a=√5), i.e.
// U(−1/√in, 1/√in); up = 0, so training starts exactly at the base model.

import { SafetensorsFile, type TensorToWrite, writeSafetensors } from '../engine/checkpoint/safetensors.ts';
import type { InjectedLora } from '../engine/graph/lora-inject.ts';
import { TorchGenerator } from '../engine/rng/torch-generator.ts';

export type LoraParams = Map<string, Float32Array>;

export function initLoraParams(loras: InjectedLora[], seed: number): LoraParams {
  const gen = new TorchGenerator(seed);
  const params: LoraParams = new Map();
  for (const l of loras) {
    const [rank, inF] = l.downDims;
    const bound = 1 / Math.sqrt(inF);
    const down = gen.rand([rank, inF]).map((u) => Math.fround((2 * u - 1) * bound));
    params.set(l.down, down);
    params.set(l.up, new Float32Array(l.upDims[0] * l.upDims[1]));
  }
  return params;
}

/** The tensors of a kohya LoRA file, in layer order (down, up, alpha). */
export function kohyaTensors(loras: InjectedLora[], params: LoraParams): TensorToWrite[] {
  return loras.flatMap((l) => {
    const down = params.get(l.down);
    const up = params.get(l.up);
    if (!down || !up) throw new Error(`no trained values for ${l.prefix}`);
    return [
      { name: l.down, dtype: 'F32' as const, shape: [...l.downDims], data: down },
      { name: l.up, dtype: 'F32' as const, shape: [...l.upDims], data: up },
      { name: `${l.prefix}.alpha`, dtype: 'F32' as const, shape: [], data: Float32Array.of(l.alpha) },
    ];
  });
}

export function writeKohyaLora(
  path: string,
  loras: InjectedLora[],
  params: LoraParams,
  metadata: Record<string, string> = {},
): void {
  writeSafetensors(path, kohyaTensors(loras, params), {
    ss_network_module: 'networks.lora',
    ss_network_dim: String(loras[0]?.rank ?? 0),
    ss_network_alpha: String(loras[0]?.alpha ?? 0),
    ...metadata,
  });
}

/** The lora_down / lora_up matrices of a kohya file, by key (alphas are not parameters). */
export function readLoraParams(path: string): LoraParams {
  const file = SafetensorsFile.open(path);
  try {
    const params: LoraParams = new Map();
    for (const key of file.tensors.keys()) {
      if (key.endsWith('.lora_down.weight') || key.endsWith('.lora_up.weight'))
        params.set(key, file.readFloat32(key));
    }
    return params;
  } finally {
    file.close();
  }
}
