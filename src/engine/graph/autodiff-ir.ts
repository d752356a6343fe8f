// Read/write access to a GraphBuilder's node list, plus static shape (and small integer-value) inference
// over it. Reverse-mode autodiff and the LoRA injection are graph transformations: they need to see and
// rewrite the nodes the model builders emitted, which GraphBuilder.ir() exposes as its live arrays.

import type { GraphBuilder } from './builder.ts';
import { DataType, type NodeSpec, type TensorSpec, type ValueSpec } from './onnx-proto.ts';

export interface BuilderIr {
  nodes: NodeSpec[];
  constants: TensorSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
}

/** The builder's graph (its live arrays: edits here change what build() emits). */
export function builderIr(g: GraphBuilder): BuilderIr {
  return g.ir();
}

export type Dims = number[];

export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** Static facts about every value of a graph: its dims, and its contents when it is a small constant. */
export interface ShapeInfo {
  dims: Map<string, Dims>;
  /** int64 constants and Shape outputs (reshape targets, split sizes, axes) */
  ints: Map<string, number[]>;
  /** float constants (Resize scales) */
  floats: Map<string, number[]>;
}

export const numel = (d: Dims): number => d.reduce((a, b) => a * b, 1);

export function broadcastDims(a: Dims, b: Dims): Dims {
  const r = Math.max(a.length, b.length);
  const out: Dims = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new ShapeError(`cannot broadcast [${a}] with [${b}]`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

function attrInt(n: NodeSpec, name: string, fallback: number): number {
  const v = n.attrs?.[name];
  return typeof v === 'number' ? v : fallback;
}

function attrInts(n: NodeSpec, name: string): number[] | undefined {
  const v = n.attrs?.[name];
  return Array.isArray(v) ? v : undefined;
}

/** Inference for the op set the model builders and the gradient rules emit. */
function inferNode(n: NodeSpec, info: ShapeInfo): void {
  const d = (i: number): Dims => {
    const name = n.inputs[i];
    const v = info.dims.get(name);
    if (!v) throw new ShapeError(`${n.name} (${n.opType}): unknown shape of input ${name}`);
    return v;
  };
  const ints = (i: number): number[] => {
    const v = info.ints.get(n.inputs[i]);
    if (!v) throw new ShapeError(`${n.name} (${n.opType}): input ${n.inputs[i]} is not a known constant`);
    return v;
  };
  const set = (dims: Dims, k = 0) => info.dims.set(n.outputs[k], dims);
  switch (n.opType) {
    case 'Identity':
    case 'Sigmoid':
    case 'Erf':
    case 'Sin':
    case 'Cos':
    case 'Tanh':
    case 'Sqrt':
    case 'Exp':
    case 'Log':
    case 'Neg':
    case 'Reciprocal':
    case 'Softmax':
    case 'LayerNormalization':
    case 'InstanceNormalization':
      set(d(0));
      if (n.opType === 'Identity' && info.ints.has(n.inputs[0]))
        info.ints.set(n.outputs[0], info.ints.get(n.inputs[0])!);
      return;
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Pow':
      set(broadcastDims(d(0), d(1)));
      return;
    case 'Sum':
      set(n.inputs.map((_, i) => d(i)).reduce(broadcastDims));
      return;
    case 'MatMul': {
      const a = d(0);
      const b = d(1);
      if (a.length < 2 || b.length < 2) throw new ShapeError(`${n.name}: MatMul on vectors is not supported`);
      if (a[a.length - 1] !== b[b.length - 2]) throw new ShapeError(`${n.name}: MatMul [${a}] x [${b}]`);
      const batch = broadcastDims(a.slice(0, -2), b.slice(0, -2));
      set([...batch, a[a.length - 2], b[b.length - 1]]);
      return;
    }
    case 'Gemm': {
      const a = d(0);
      const b = d(1);
      const m = attrInt(n, 'transA', 0) ? a[1] : a[0];
      const nn = attrInt(n, 'transB', 0) ? b[0] : b[1];
      set([m, nn]);
      return;
    }
    case 'Transpose': {
      const x = d(0);
      const perm = attrInts(n, 'perm') ?? x.map((_, i) => x.length - 1 - i);
      set(perm.map((p) => x[p]));
      return;
    }
    case 'Reshape': {
      const x = d(0);
      const target = ints(1).map((v, i) => (v === 0 ? x[i] : v));
      const known = target.filter((v) => v !== -1).reduce((a, b) => a * b, 1);
      const out = target.map((v) => (v === -1 ? numel(x) / known : v));
      if (numel(out) !== numel(x)) throw new ShapeError(`${n.name}: cannot reshape [${x}] to [${ints(1)}]`);
      set(out);
      if (info.ints.has(n.inputs[0])) info.ints.set(n.outputs[0], info.ints.get(n.inputs[0])!);
      return;
    }
    case 'Expand':
      set(broadcastDims(d(0), ints(1)));
      return;
    case 'Shape':
      set([d(0).length]);
      info.ints.set(n.outputs[0], [...d(0)]);
      return;
    case 'Unsqueeze': {
      const x = [...d(0)];
      const rank = x.length + ints(1).length;
      for (const a of ints(1)
        .map((v) => normAxis(v, rank))
        .sort((p, q) => p - q))
        x.splice(a, 0, 1);
      set(x);
      return;
    }
    case 'Squeeze': {
      const x = d(0);
      const axes = new Set((n.inputs[1] ? ints(1) : []).map((v) => normAxis(v, x.length)));
      set(x.filter((v, i) => (axes.size ? !axes.has(i) : v !== 1)));
      return;
    }
    case 'Conv':
    case 'ConvTranspose': {
      const x = d(0);
      const w = d(1);
      const k = w.slice(2);
      const strides = attrInts(n, 'strides') ?? k.map(() => 1);
      const dil = attrInts(n, 'dilations') ?? k.map(() => 1);
      const pads = attrInts(n, 'pads') ?? [...k.map(() => 0), ...k.map(() => 0)];
      const group = attrInt(n, 'group', 1);
      if (n.opType === 'Conv') {
        const sp = k.map(
          (kk, i) =>
            Math.floor((x[2 + i] + pads[i] + pads[i + k.length] - dil[i] * (kk - 1) - 1) / strides[i]) + 1,
        );
        set([x[0], w[0], ...sp]);
      } else {
        const op = attrInts(n, 'output_padding') ?? k.map(() => 0);
        const sp = k.map(
          (kk, i) =>
            (x[2 + i] - 1) * strides[i] - pads[i] - pads[i + k.length] + dil[i] * (kk - 1) + 1 + op[i],
        );
        set([x[0], w[1] * group, ...sp]);
      }
      return;
    }
    case 'Split': {
      const x = d(0);
      const axis = normAxis(attrInt(n, 'axis', 0), x.length);
      const sizes = n.inputs[1] ? ints(1) : n.outputs.map(() => x[axis] / n.outputs.length);
      sizes.forEach((s, k) => {
        const o = [...x];
        o[axis] = s;
        set(o, k);
      });
      return;
    }
    case 'Concat': {
      const parts = n.inputs.map((_, i) => d(i));
      const axis = normAxis(attrInt(n, 'axis', 0), parts[0].length);
      const o = [...parts[0]];
      o[axis] = parts.reduce((a, p) => a + p[axis], 0);
      set(o);
      if (n.inputs.every((i) => info.ints.has(i)))
        info.ints.set(
          n.outputs[0],
          n.inputs.flatMap((i) => info.ints.get(i)!),
        );
      return;
    }
    case 'Slice': {
      const x = d(0);
      const o = [...x];
      const starts = ints(1);
      const ends = ints(2);
      const axes = n.inputs[3] ? ints(3) : starts.map((_, i) => i);
      const steps = n.inputs[4] ? ints(4) : starts.map(() => 1);
      axes.forEach((a0, i) => {
        const a = normAxis(a0, x.length);
        const { start, end } = clampSlice(starts[i], ends[i], x[a]);
        if (steps[i] !== 1) throw new ShapeError(`${n.name}: Slice steps other than 1 are not supported`);
        o[a] = Math.max(0, end - start);
      });
      set(o);
      return;
    }
    case 'Pad': {
      const x = d(0);
      const pads = ints(1);
      set(x.map((v, i) => v + pads[i] + pads[i + x.length]));
      return;
    }
    case 'Resize': {
      const x = d(0);
      const scales = info.floats.get(n.inputs[2]);
      if (!scales) throw new ShapeError(`${n.name}: Resize needs constant scales`);
      set(x.map((v, i) => Math.floor(v * scales[i])));
      return;
    }
    case 'ReduceMean':
    case 'ReduceSum': {
      const x = d(0);
      const axesList = n.opType === 'ReduceSum' ? (n.inputs[1] ? ints(1) : []) : (attrInts(n, 'axes') ?? []);
      const axes = new Set(axesList.length ? axesList.map((a) => normAxis(a, x.length)) : x.map((_, i) => i));
      const keep = attrInt(n, 'keepdims', 1) === 1;
      set(keep ? x.map((v, i) => (axes.has(i) ? 1 : v)) : x.filter((_, i) => !axes.has(i)));
      return;
    }
    default:
      throw new ShapeError(`${n.name}: no shape rule for ${n.opType}`);
  }
}

/** Python-style slice bounds (negative from the end, clamped), as ONNX Slice defines them for step 1. */
export function clampSlice(start: number, end: number, dim: number): { start: number; end: number } {
  const fix = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
  return { start: fix(start), end: fix(end) };
}

function constantValues(t: TensorSpec): { ints?: number[]; floats?: number[] } {
  if (!t.raw) return {};
  const raw = t.raw;
  if (t.dataType === DataType.INT64) {
    const v = new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    return { ints: Array.from(v, Number) };
  }
  if (t.dataType === DataType.FLOAT && raw.byteLength <= 64) {
    return {
      floats: Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))),
    };
  }
  return {};
}

/**
 * Shapes of every value, given concrete dims for the graph inputs (symbolic dims such as 'batch' must be
 * fixed: the backward pass is emitted for one input shape). Weight initializers take their declared dims.
 */
export function inferShapes(g: GraphBuilder, inputDims: Record<string, Dims>): ShapeInfo {
  const ir = builderIr(g);
  const info: ShapeInfo = { dims: new Map(), ints: new Map(), floats: new Map() };
  for (const i of ir.inputs) {
    const dims = inputDims[i.name];
    if (!dims) throw new ShapeError(`no dims given for graph input ${i.name}`);
    info.dims.set(i.name, dims);
  }
  for (const c of ir.constants) {
    info.dims.set(c.name, c.dims);
    const v = constantValues(c);
    if (v.ints) info.ints.set(c.name, v.ints);
    if (v.floats) info.floats.set(c.name, v.floats);
  }
  for (const w of g.weightEntries()) info.dims.set(w.name, w.dims);
  info.dims.set('', []);
  extendShapes(ir.nodes, info);
  return info;
}

/** Adds the shapes of `nodes` (in order) to `info`. */
export function extendShapes(nodes: NodeSpec[], info: ShapeInfo): void {
  for (const n of nodes) inferNode(n, info);
}
