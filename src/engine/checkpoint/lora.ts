// LoRA files (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): a layer's weight W gets a
// low-rank update  W' = W + scale * (alpha / rank) * up @ down  (up [out, r], down [r, in...]; for convolutions
// down is [r, in, kh, kw] and up [out, r, 1, 1], and the product is reshaped to W's shape). One reader per file
// format, all producing the same `LoraLayer` list keyed by the base model's diffusers weight names:
//   - kohya / sd-scripts: `lora_unet_<module path, '.' -> '_'>.{lora_down.weight, lora_up.weight, alpha}` and
//     `lora_te_<path>...` (alpha optional: absent means alpha = rank);
//   - diffusers (pre-PEFT): `unet.<path>.lora.{down,up}.weight`, `text_encoder.<path>.lora_linear_layer.{down,up}.weight`,
//     alpha folded into up (scale 1);
//   - PEFT / current diffusers: `unet.<path>.lora_A.weight` (down) / `lora_B.weight` (up), optional `<path>.alpha`.
// The merge arithmetic follows diffusers' fuse_lora (0.26): up' = up * alpha / rank, delta = up' @ down,
// W' = W + scale * delta, every product rounded to float32 (refs/lora.json: max |diff| to that rule is 0).
//
// Two ways to apply a LoRA at inference, and which one Atelier uses:
//   - merge (the default, implemented here and in model-manager.ts): add the deltas into the weights once per
//     LoRA set, write them into a copy of the compiled graph's external weights file (patched in place at the
//     initializers' offsets, so the graph itself is never rebuilt) and open sessions on it; the set
//     (file identities + scales) keys the cache, so the next prompt with the same LoRAs reuses the sessions and
//     inference costs exactly what the base model costs. Cost: one weights-file copy and one session load per new
//     set (measured in docs/pipeline.md), plus the memory of a second UNet while both are loaded.
//   - runtime: keep W and run x @ down^T @ up^T beside each targeted layer (extra graph inputs for the factors).
//     Nothing has to be rewritten per set and any scale is free, but every step pays the extra matmuls and the
//     graph must be built with LoRA inputs for a fixed list of target layers. Atelier does not build such graphs
//     yet; they would pay off for many one-off LoRA sets on a model that cannot afford a second copy in memory.
//   Rule: merge, always (a LoRA set whose merged copy does not fit the memory budget evicts other models first).

import { SafetensorsError, type SafetensorsFile } from './safetensors.ts';

const f = Math.fround;

export type LoraComponent = 'unet' | 'text_encoder';

export interface LoraLayer {
  component: LoraComponent;
  /** the base weight's diffusers name, e.g. `down_blocks.0.attentions.0.proj_in.weight` */
  target: string;
  /** [out, rank] */
  up: Float32Array;
  /** [rank, in * kh * kw] */
  down: Float32Array;
  rank: number;
  /** null: no alpha in the file (alpha = rank, i.e. factor 1) */
  alpha: number | null;
}

export type LoraFormat = 'kohya' | 'diffusers' | 'peft';

export interface LoraWeights {
  format: LoraFormat;
  layers: LoraLayer[];
}

/** The weight names of a base model component, to resolve kohya's underscored module paths. */
export class TargetIndex {
  private readonly byUnderscored = new Map<string, string>();
  readonly names: Set<string>;
  constructor(weightNames: Iterable<string>) {
    this.names = new Set(weightNames);
    for (const n of this.names) {
      if (n.endsWith('.weight'))
        this.byUnderscored.set(n.slice(0, -'.weight'.length).replaceAll('.', '_'), n);
    }
  }
  fromUnderscored(module: string): string | undefined {
    return this.byUnderscored.get(module);
  }
  fromModulePath(module: string): string | undefined {
    const n = `${module}.weight`;
    return this.names.has(n) ? n : undefined;
  }
}

export interface LoraTargets {
  unet: TargetIndex;
  text_encoder: TargetIndex;
}

export class LoraFormatError extends Error {
  override name = 'LoraFormatError';
}

function layer(
  file: SafetensorsFile,
  component: LoraComponent,
  target: string | undefined,
  upKey: string,
  downKey: string,
  alphaKey: string | null,
): LoraLayer {
  if (!target) throw new LoraFormatError(`${file.path}: ${downKey} targets no layer of the base model`);
  const downShape = file.info(downKey).shape;
  const rank = downShape[0];
  const alpha = alphaKey && file.tensors.has(alphaKey) ? file.readFloat32(alphaKey)[0] : null;
  return { component, target, up: file.readFloat32(upKey), down: file.readFloat32(downKey), rank, alpha };
}

/**
 * One LoRA layer as a file names it: the component, the module path (kohya: underscored, e.g.
 * `down_blocks_0_attentions_0_proj_in`; diffusers/PEFT: dotted) and the keys of its matrices.
 */
export interface LoraModuleKeys {
  component: LoraComponent;
  module: string;
  naming: 'underscored' | 'dotted';
  down: string;
  up: string;
  /** where the file's alpha would be (it may be absent); null: the format has none */
  alpha: string | null;
}

/** Every layer of a LoRA file of `format`, from its tensor names (no data is read). */
export function loraModuleKeys(names: string[], format: LoraFormat): LoraModuleKeys[] {
  const out: LoraModuleKeys[] = [];
  for (const key of names) {
    if (format === 'kohya') {
      // kohya / sd-scripts: `lora_unet_*` and `lora_te_*` with `.lora_down.weight`, `.lora_up.weight`, `.alpha`
      const m = /^lora_(unet|te)_(.+)\.lora_down\.weight$/.exec(key);
      if (!m) continue;
      const base = key.slice(0, -'.lora_down.weight'.length);
      out.push({
        component: m[1] === 'unet' ? 'unet' : 'text_encoder',
        module: m[2],
        naming: 'underscored',
        down: key,
        up: `${base}.lora_up.weight`,
        alpha: `${base}.alpha`,
      });
    } else if (format === 'peft') {
      // PEFT (current diffusers): `<unet|text_encoder>.<path>.lora_A.weight` = down, `lora_B.weight` = up
      const m = /^(unet|text_encoder)\.(.+)\.lora_A(?:\.default)?\.weight$/.exec(key);
      if (!m) continue;
      out.push({
        component: m[1] as LoraComponent,
        module: m[2],
        naming: 'dotted',
        down: key,
        up: key.replace('.lora_A', '.lora_B'),
        alpha: `${m[1]}.${m[2]}.alpha`,
      });
    } else {
      // diffusers' pre-PEFT format: `unet.<path>.lora.down.weight`, `text_encoder.<path>.lora_linear_layer.down.weight`
      const m = /^(unet|text_encoder)\.(.+)\.(lora|lora_linear_layer)\.down\.weight$/.exec(key);
      if (!m) continue;
      out.push({
        component: m[1] as LoraComponent,
        module: m[2],
        naming: 'dotted',
        down: key,
        up: key.replace(/\.down\.weight$/, '.up.weight'),
        alpha: null,
      });
    }
  }
  return out;
}

/** The base model weight a LoRA layer adds to, or undefined when the base model has no such layer. */
export function loraTarget(k: LoraModuleKeys, targets: LoraTargets): string | undefined {
  const index = targets[k.component];
  return k.naming === 'underscored' ? index.fromUnderscored(k.module) : index.fromModulePath(k.module);
}

function readLayers(file: SafetensorsFile, targets: LoraTargets, format: LoraFormat): LoraLayer[] {
  return loraModuleKeys(file.names(), format).map((k) =>
    layer(file, k.component, loraTarget(k, targets), k.up, k.down, k.alpha),
  );
}

/** kohya / sd-scripts: `lora_unet_*` and `lora_te_*` with `.lora_down.weight`, `.lora_up.weight`, `.alpha`. */
export function readKohyaLora(file: SafetensorsFile, targets: LoraTargets): LoraLayer[] {
  return readLayers(file, targets, 'kohya');
}

/** diffusers' pre-PEFT format: `unet.<path>.lora.down.weight`, `text_encoder.<path>.lora_linear_layer.down.weight`. */
export function readDiffusersLora(file: SafetensorsFile, targets: LoraTargets): LoraLayer[] {
  return readLayers(file, targets, 'diffusers');
}

/** PEFT (current diffusers): `<unet|text_encoder>.<path>.lora_A.weight` = down, `lora_B.weight` = up. */
export function readPeftLora(file: SafetensorsFile, targets: LoraTargets): LoraLayer[] {
  return readLayers(file, targets, 'peft');
}

/** The format of a LoRA file from its tensor names, or null when it is not a LoRA in a supported format. */
export function loraFormatOf(names: string[]): LoraFormat | null {
  if (names.some((k) => /^lora_(unet|te)_.+\.lora_down\.weight$/.test(k))) return 'kohya';
  if (names.some((k) => /\.lora_A(\.default)?\.weight$/.test(k))) return 'peft';
  if (names.some((k) => /\.(lora|lora_linear_layer)\.down\.weight$/.test(k))) return 'diffusers';
  return null;
}

export function detectLoraFormat(file: SafetensorsFile): LoraFormat {
  const format = loraFormatOf(file.names());
  if (!format) throw new LoraFormatError(`${file.path}: not a LoRA file in kohya, diffusers or PEFT format`);
  return format;
}

/** Reads any supported LoRA file; fails when it has no layers or a layer targets nothing in the base model. */
export function readLora(file: SafetensorsFile, targets: LoraTargets): LoraWeights {
  const format = detectLoraFormat(file);
  const layers = readLayers(file, targets, format);
  if (!layers.length) throw new SafetensorsError(file.path, 'LoRA file has no layers');
  return { format, layers };
}

/** scale * (alpha / rank) * up @ down, flattened in W's row-major order (diffusers' fuse_lora arithmetic). */
export function loraDelta(l: LoraLayer, scale: number): Float32Array {
  const r = l.rank;
  const out = l.up.length / r;
  const inner = l.down.length / r;
  if (!Number.isInteger(out) || !Number.isInteger(inner))
    throw new LoraFormatError(`LoRA ${l.target}: up/down sizes do not fit rank ${r}`);
  const up = l.alpha === null ? l.up : Float32Array.from(l.up, (v) => f(f(v * (l.alpha as number)) / r));
  const delta = new Float32Array(out * inner);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc = f(acc + f(up[o * r + k] * l.down[k * inner + i]));
      delta[o * inner + i] = f(scale * acc);
    }
  }
  return delta;
}

/** One LoRA file and the scale it is applied with. */
export interface ScaledLora {
  weights: LoraWeights;
  scale: number;
}

/**
 * The merged value of every weight of `component` that at least one LoRA touches:
 * W + sum over LoRAs of their deltas, added in the order given.
 */
export function mergeLoras(
  component: LoraComponent,
  loras: ScaledLora[],
  readBase: (name: string) => Float32Array,
): Map<string, Float32Array> {
  const merged = new Map<string, Float32Array>();
  for (const { weights, scale } of loras) {
    for (const l of weights.layers) {
      if (l.component !== component || scale === 0) continue;
      const w = merged.get(l.target) ?? readBase(l.target).slice();
      const d = loraDelta(l, scale);
      if (d.length !== w.length)
        throw new LoraFormatError(`LoRA ${l.target}: delta has ${d.length} values, the weight ${w.length}`);
      for (let k = 0; k < w.length; k++) w[k] = f(w[k] + d[k]);
      merged.set(l.target, w);
    }
  }
  return merged;
}
