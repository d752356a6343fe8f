// Reverse-mode automatic differentiation over a GraphBuilder's ONNX graph. onnxruntime-node has no training
// API, so the backward pass is emitted into the same graph as ordinary ops: one session run then returns
// the loss and the gradients together, and onnxruntime keeps the forward activations the backward ops read.
//
// Only nodes on a path from a `wrt` value to the loss are differentiated (frozen weights, the timestep
// embedding and shape plumbing cost nothing). Gradients of values consumed several times are summed.
// Ref: Griewank & Walther, "Evaluating Derivatives" (2nd ed., 2008), sec. 3.2 (adjoint accumulation).

import { builderIr, type Dims, type ShapeInfo } from './autodiff-ir.ts';
import type { GraphBuilder } from './builder.ts';
import { GRAD_RULES, type GradContext, NON_DIFFERENTIABLE } from './grad-rules.ts';

export interface BackwardOptions {
  /** scalar (or any-shape: the seed is all ones) value to differentiate */
  loss: string;
  /** values (graph inputs or weights) to differentiate with respect to */
  wrt: string[];
  /** shapes of the forward graph, from inferShapes() */
  shapes: ShapeInfo;
}

export class AutodiffError extends Error {
  override name = 'AutodiffError';
}

/**
 * Appends the backward pass to `g` and returns, for each `wrt` name, the name of its gradient value
 * (same shape). Values with no path to the loss get an all-zero constant.
 */
export function appendBackward(g: GraphBuilder, opts: BackwardOptions): Map<string, string> {
  const { shapes } = opts;
  const forward = [...builderIr(g).nodes];
  const dims = (name: string): Dims => {
    const d = shapes.dims.get(name);
    if (!d) throw new AutodiffError(`no shape for ${name}`);
    return d;
  };

  const producers = new Map<string, (typeof forward)[number]>();
  for (const n of forward) for (const o of n.outputs) producers.set(o, n);

  const requires = new Set(opts.wrt);
  for (const n of forward) {
    if (NON_DIFFERENTIABLE.has(n.opType)) continue;
    if (n.inputs.some((i) => requires.has(i))) for (const o of n.outputs) requires.add(o);
  }
  if (!requires.has(opts.loss)) throw new AutodiffError(`${opts.loss} does not depend on any wrt value`);

  const pending = new Map<string, string[]>();
  const add = (name: string, grad: string) => {
    const list = pending.get(name);
    if (list) list.push(grad);
    else pending.set(name, [grad]);
  };
  /** the total gradient of a value, summing its contributions once */
  const total = (name: string): string | undefined => {
    const list = pending.get(name);
    if (!list?.length) return undefined;
    if (list.length > 1) {
      const sum = g.op('Sum', list);
      pending.set(name, [sum]);
      return sum;
    }
    return list[0];
  };

  const lossDims = dims(opts.loss);
  add(opts.loss, g.constFloat(new Float32Array(lossDims.reduce((a, b) => a * b, 1)).fill(1), lossDims));

  for (let k = forward.length - 1; k >= 0; k--) {
    const n = forward[k];
    if (!n.outputs.some((o) => requires.has(o) && pending.has(o))) continue;
    const needs = (i: number) => n.inputs[i] !== '' && n.inputs[i] !== undefined && requires.has(n.inputs[i]);
    if (!n.inputs.some((_, i) => needs(i))) continue;
    const rule = GRAD_RULES[n.opType];
    if (!rule) throw new AutodiffError(`no gradient rule for ${n.opType} (node ${n.name})`);
    const ctx: GradContext = {
      g,
      dims,
      ints: (name) => {
        const v = shapes.ints.get(name);
        if (!v) throw new AutodiffError(`${n.name}: ${name} is not a known integer constant`);
        return v;
      },
      floats: (name) => shapes.floats.get(name),
      needs,
      producer: (name) => producers.get(name),
    };
    const grads = rule(
      n,
      n.outputs.map((o) => total(o)),
      ctx,
    );
    grads.forEach((grad, i) => {
      if (grad && needs(i)) add(n.inputs[i], grad);
    });
  }

  const out = new Map<string, string>();
  for (const w of opts.wrt) {
    const d = dims(w);
    out.set(w, total(w) ?? g.constFloat(new Float32Array(d.reduce((a, b) => a * b, 1)), d));
  }
  return out;
}
