// LoRA branches as a graph transformation: for each target module (diffusers name, e.g.
// `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`) the linear layer that Layers.linear emitted
// (Transpose(W) → MatMul → optional Add(bias)) gets a parallel low-rank path,
//     out = W x + b + (alpha/rank) · ((x · downᵀ) · upᵀ)
// with `down` [rank, in] and `up` [out, rank] as new graph inputs named in kohya style
// (`lora_unet_<module with '.'→'_'>.lora_down.weight` / `.lora_up.weight`), so one compiled graph serves
// every training step and the optimiser simply feeds new values.
// Ref: Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models", eq. (3) and sec. 4.1
// (scaling by alpha/r); kohya-ss/sd-scripts naming for the parameter names.

import { builderIr } from './autodiff-ir.ts';
import type { GraphBuilder } from './builder.ts';
import type { NodeSpec } from './onnx-proto.ts';

export interface LoraTarget {
  /** diffusers module path of a linear layer */
  module: string;
  rank: number;
  alpha: number;
}

export interface InjectedLora {
  module: string;
  /** kohya prefix, e.g. lora_unet_down_blocks_0_..._to_q */
  prefix: string;
  down: string;
  up: string;
  downDims: [number, number];
  upDims: [number, number];
  rank: number;
  alpha: number;
}

/** kohya key prefix of a diffusers UNet module path */
export function kohyaUnetPrefix(module: string): string {
  return `lora_unet_${module.replaceAll('.', '_')}`;
}

const ATTENTION_SUFFIXES = [
  'attn1.to_q',
  'attn1.to_k',
  'attn1.to_v',
  'attn1.to_out.0',
  'attn2.to_q',
  'attn2.to_k',
  'attn2.to_v',
  'attn2.to_out.0',
];
const FEED_FORWARD_SUFFIXES = ['ff.net.0.proj', 'ff.net.2'];
// diffusers registers the down_blocks and up_blocks ModuleLists before assigning mid_block
const BLOCK_ORDER = ['down_blocks', 'up_blocks', 'mid_block'];

/**
 * Attention projections of every transformer block (and optionally the feed-forward linears), in the order
 * diffusers' `named_modules()` lists them (down, mid, up; q, k, v, out), which is the order PEFT/kohya
 * initialise them in.
 */
export function unetAttentionModules(weightNames: Iterable<string>, includeFeedForward = false): string[] {
  const suffixes = includeFeedForward
    ? [...ATTENTION_SUFFIXES, ...FEED_FORWARD_SUFFIXES]
    : ATTENTION_SUFFIXES;
  const found: { module: string; key: (string | number)[] }[] = [];
  for (const name of weightNames) {
    if (!name.endsWith('.weight')) continue;
    const module = name.slice(0, -'.weight'.length);
    const m = /^(.*\.transformer_blocks\.\d+)\.(.+)$/.exec(module);
    const suffix = m ? suffixes.indexOf(m[2]) : -1;
    if (!m || suffix < 0) continue;
    const parts = m[1].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    found.push({ module, key: [BLOCK_ORDER.indexOf(String(parts[0])), ...parts.slice(1), suffix] });
  }
  const cmp = (a: (string | number)[], b: (string | number)[]): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      if (a[i] === b[i]) continue;
      return typeof a[i] === 'number' && typeof b[i] === 'number'
        ? (a[i] as number) - (b[i] as number)
        : String(a[i]) < String(b[i])
          ? -1
          : 1;
    }
    return a.length - b.length;
  };
  return found.sort((a, b) => cmp(a.key, b.key)).map((f) => f.module);
}

export class LoraInjectError extends Error {
  override name = 'LoraInjectError';
}

/**
 * Rewrites `g` in place. The injected nodes are placed right after the layer they wrap, keeping the node
 * list topologically sorted, and the layer's output name is kept, so its consumers are untouched.
 */
export function injectLora(g: GraphBuilder, targets: LoraTarget[]): InjectedLora[] {
  const ir = builderIr(g);
  const weights = new Map(g.weightEntries().map((w) => [w.name, w.dims]));
  const injected: InjectedLora[] = [];
  for (const t of targets) {
    const weightName = `${t.module}.weight`;
    const wDims = weights.get(weightName);
    if (wDims?.length !== 2)
      throw new LoraInjectError(`${t.module}: no linear weight ${weightName} in graph ${g.name}`);
    const [outF, inF] = wDims;
    const nodes = ir.nodes;
    const transpose = nodes.find((n) => n.opType === 'Transpose' && n.inputs[0] === weightName);
    const matmul =
      transpose && nodes.find((n) => n.opType === 'MatMul' && n.inputs[1] === transpose.outputs[0]);
    if (!matmul) throw new LoraInjectError(`${t.module}: no MatMul(x, Transpose(W)) found`);
    const biasName = `${t.module}.bias`;
    const biasAdd = nodes.find(
      (n) => n.opType === 'Add' && n.inputs[0] === matmul.outputs[0] && n.inputs[1] === biasName,
    );
    const wrapped: NodeSpec = biasAdd ?? matmul;
    const x = matmul.inputs[0];
    const prefix = kohyaUnetPrefix(t.module);
    const down = g.input(`${prefix}.lora_down.weight`, [t.rank, inF]);
    const up = g.input(`${prefix}.lora_up.weight`, [outF, t.rank]);

    // build the branch at the end of the node list, then move it after the wrapped node
    const before = nodes.length;
    const base = g.fresh(`${t.module}.base`);
    const finalName = wrapped.outputs[0];
    wrapped.outputs[0] = base;
    const hidden = g.op('MatMul', [x, g.op('Transpose', [down], { perm: [1, 0] })]);
    const delta = g.op('MatMul', [hidden, g.op('Transpose', [up], { perm: [1, 0] })]);
    const scaled = g.op('Mul', [delta, g.scalar(t.alpha / t.rank)]);
    g.op('Add', [base, scaled], {}, finalName);
    const branch = nodes.splice(before);
    nodes.splice(nodes.indexOf(wrapped) + 1, 0, ...branch);

    injected.push({
      module: t.module,
      prefix,
      down,
      up,
      downDims: [t.rank, inF],
      upDims: [outF, t.rank],
      rank: t.rank,
      alpha: t.alpha,
    });
  }
  return injected;
}
