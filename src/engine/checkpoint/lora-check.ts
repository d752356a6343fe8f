// Checks a LoRA file held in memory before it is accepted as a tune (LoRA import): the safetensors header is
// valid and covers the whole file, the tensors are a LoRA in a supported format (kohya, diffusers, PEFT; see
// lora.ts), every layer's down/up matrices have float dtypes and a consistent rank, and — when the base model's
// weights are given — every layer targets a weight of that model with the same shape. Only the header is read:
// the check costs the same for a 10 MB and a 1 GB file. Errors name the field the caller gives and say exactly
// what is wrong; a file that does not fit also gets a guess of the architecture it was made for.

import type { Dtype } from './dtype.ts';
import {
  type LoraComponent,
  type LoraFormat,
  type LoraModuleKeys,
  loraFormatOf,
  loraModuleKeys,
  loraTarget,
  TargetIndex,
} from './lora.ts';
import { parseSafetensorsBuffer, SafetensorsError, type TensorInfo } from './safetensors.ts';
import type { TensorSource } from './tensor-source.ts';

/** The file is not a usable LoRA, or not one for this base model. The message is meant for the API client. */
export class LoraCheckError extends Error {
  override name = 'LoraCheckError';
}

export interface LoraFileSummary {
  format: LoraFormat;
  /** layers per component */
  layers: Partial<Record<LoraComponent, number>>;
  /** distinct ranks, ascending */
  ranks: number[];
}

/** The base model a LoRA must fit: its weight names and shapes per component, and how to name it in errors. */
export interface LoraBase {
  label: string;
  unet: TensorSource;
  text_encoder?: TensorSource;
}

const FLOAT_DTYPES: Dtype[] = ['F32', 'F16', 'BF16', 'F64'];
const EXAMPLES = 3;

const prod = (dims: number[]) => dims.reduce((a, d) => a * d, 1);
const fmt = (dims: number[]) => `[${dims.join(', ')}]`;

/**
 * Checks `data` (a whole .safetensors file) as a LoRA; with `base`, also that it fits that model. `field` names
 * the file in messages (e.g. "lora_file"). Throws LoraCheckError.
 */
export function checkLoraFile(data: Uint8Array, field: string, base?: LoraBase): LoraFileSummary {
  let tensors: Map<string, TensorInfo>;
  try {
    tensors = parseSafetensorsBuffer(field, data).tensors;
  } catch (e) {
    if (e instanceof SafetensorsError) throw new LoraCheckError(e.message);
    throw e;
  }
  const names = [...tensors.keys()];
  const format = loraFormatOf(names);
  if (!format)
    throw new LoraCheckError(
      `${field}: not a LoRA file: no kohya (lora_unet_*/lora_te_* .lora_down.weight), diffusers (.lora.down.weight) or PEFT (.lora_A.weight) tensors among its ${names.length}${guessSuffix(tensors)}`,
    );
  const modules = loraModuleKeys(names, format);
  const problems: string[] = [];
  const ranks = new Set<number>();
  const layers: Partial<Record<LoraComponent, number>> = {};
  for (const k of modules) {
    const problem = layerProblem(k, tensors);
    if (problem) {
      problems.push(problem);
      continue;
    }
    ranks.add((tensors.get(k.down) as TensorInfo).shape[0]);
    layers[k.component] = (layers[k.component] ?? 0) + 1;
  }
  if (problems.length)
    throw new LoraCheckError(`${field}: ${problems.length} malformed LoRA layer(s): ${examples(problems)}`);
  if (base) checkAgainstBase(field, format, modules, tensors, base);
  return { format, layers, ranks: [...ranks].sort((a, b) => a - b) };
}

/** Structure of one layer, independent of the base model: both matrices, float, rank agrees, alpha a scalar. */
function layerProblem(k: LoraModuleKeys, tensors: Map<string, TensorInfo>): string | null {
  const down = tensors.get(k.down) as TensorInfo;
  const up = tensors.get(k.up);
  if (!up) return `${k.down} has no ${k.up}`;
  for (const [key, t] of [
    [k.down, down],
    [k.up, up],
  ] as const)
    if (!FLOAT_DTYPES.includes(t.dtype)) return `${key} is ${t.dtype}, not a float type`;
  if (down.shape.length < 2 || up.shape.length < 2)
    return `${k.down} ${fmt(down.shape)} / ${k.up} ${fmt(up.shape)} are not matrices`;
  const rank = down.shape[0];
  if (rank === 0 || up.shape[1] !== rank || prod(up.shape.slice(2)) !== 1)
    return `${k.up} ${fmt(up.shape)} does not match the rank ${rank} of ${k.down} ${fmt(down.shape)}`;
  const alpha = k.alpha ? tensors.get(k.alpha) : undefined;
  if (alpha && (prod(alpha.shape) !== 1 || !FLOAT_DTYPES.includes(alpha.dtype)))
    return `${k.alpha} is ${alpha.dtype}${fmt(alpha.shape)}, not a float scalar`;
  return null;
}

function checkAgainstBase(
  field: string,
  format: LoraFormat,
  modules: LoraModuleKeys[],
  tensors: Map<string, TensorInfo>,
  base: LoraBase,
): void {
  const sources: Partial<Record<LoraComponent, TensorSource>> = {
    unet: base.unet,
    text_encoder: base.text_encoder,
  };
  const targets = {
    unet: new TargetIndex(base.unet.names()),
    text_encoder: new TargetIndex(base.text_encoder?.names() ?? []),
  };
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const k of modules) {
    const target = loraTarget(k, targets);
    const src = sources[k.component];
    if (!target || !src) {
      missing.push(k.down.replace(/\.(lora_down|lora_A|lora\.down|lora_linear_layer\.down).*$/, ''));
      continue;
    }
    const w = src.shape(target);
    const down = (tensors.get(k.down) as TensorInfo).shape;
    const up = (tensors.get(k.up) as TensorInfo).shape;
    // W [out, in, (kh, kw)]; up [out, rank, (1, 1)]; down [rank, in, (kh, kw)]
    if (up[0] !== w[0] || prod(down.slice(1)) !== prod(w.slice(1)))
      mismatched.push(
        `${target.replace(/\.weight$/, '')} is ${fmt(w)} in the base model, the LoRA's up ${fmt(up)} · down ${fmt(down)}`,
      );
  }
  if (!missing.length && !mismatched.length) return;
  const parts: string[] = [];
  if (missing.length)
    parts.push(
      `${missing.length} of ${modules.length} layers target modules it does not have (${examples(missing)})`,
    );
  if (mismatched.length)
    parts.push(`${mismatched.length} layers have other shapes (${examples(mismatched)})`);
  throw new LoraCheckError(
    `${field}: this ${format} LoRA does not fit ${base.label}: ${parts.join('; ')}${guessSuffix(tensors)}`,
  );
}

function examples(items: string[]): string {
  const shown = items.slice(0, EXAMPLES).join(', ');
  return items.length > EXAMPLES ? `${shown}, …` : shown;
}

/**
 * The architecture a LoRA (or any checkpoint) was made for, from its names and the width of its cross-attention
 * inputs (the text encoder's hidden size: 768 SD 1.x, 1024 SD 2.x, 2048 SDXL), or null when nothing tells.
 */
export function guessLoraArchitecture(tensors: Map<string, TensorInfo>): string | null {
  const names = [...tensors.keys()];
  const reasons: string[] = [];
  if (names.some((n) => /^(lora_te[12]_|text_encoder_2\.|te2\.)/.test(n)))
    reasons.push('it has layers for a second text encoder');
  if (names.some((n) => /(double_blocks|single_blocks|single_transformer_blocks)/.test(n)))
    return 'the file looks like a FLUX LoRA (double/single transformer blocks)';
  let width: number | undefined;
  for (const [n, t] of tensors) {
    if (!/attn2[._]to_k/.test(n) || t.shape.length < 2) continue;
    if (/lora_down|lora_A|lora\.down|lora_linear_layer\.down/.test(n)) width = t.shape[1];
    if (width !== undefined) break;
  }
  const family =
    width === 2048
      ? 'SDXL'
      : width === 1024
        ? 'SD 2.x'
        : width === 768
          ? 'SD 1.x'
          : reasons.length
            ? 'SDXL'
            : null;
  if (width !== undefined && family) reasons.push(`its cross-attention inputs are ${width} wide`);
  if (!family) return null;
  return `the file looks like an ${family} LoRA (${reasons.join(', ')})`;
}

function guessSuffix(tensors: Map<string, TensorInfo>): string {
  const g = guessLoraArchitecture(tensors);
  return g ? `; ${g}` : '';
}
