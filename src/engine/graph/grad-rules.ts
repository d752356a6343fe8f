// Reverse-mode derivative rules, one per ONNX op the model builders emit. A rule receives the gradients of
// a node's outputs (dL/dy, undefined where nothing downstream depends on that output) and emits ONNX ops that
// compute dL/dx for each input that needs one. Every returned gradient has exactly the shape of its input
// (broadcasting is undone by `reduceTo`), which is the invariant autodiff.ts relies on.
// Refs: Griewank & Walther, "Evaluating Derivatives" (2008), ch. 3 (reverse mode); the matrix identities
// are in Giles, "An extended collection of matrix derivative results for forward and reverse mode AD" (2008);
// the normalisation backward is Ioffe & Szegedy 2015 (batch norm, eq. in sec. 3) applied to the
// instance/layer axes; transposed convolution as the adjoint of convolution: Dumoulin & Visin,
// "A guide to convolution arithmetic for deep learning" (2016), sec. 4.

import { clampSlice, type Dims, numel } from './autodiff-ir.ts';
import type { GraphBuilder } from './builder.ts';
import type { Attr, NodeSpec } from './onnx-proto.ts';

export interface GradContext {
  g: GraphBuilder;
  dims(name: string): Dims;
  ints(name: string): number[];
  floats(name: string): number[] | undefined;
  /** whether input `i` of the node being differentiated needs a gradient */
  needs(i: number): boolean;
  /** the forward node that produced a value (undefined for inputs, weights, constants) */
  producer(name: string): NodeSpec | undefined;
}

/** dy[k] is dL/d(output k); returns dL/d(input i), or undefined where none is needed. */
export type GradRule = (n: NodeSpec, dy: (string | undefined)[], ctx: GradContext) => (string | undefined)[];

const attrInt = (n: NodeSpec, name: string, fallback: number): number => {
  const v = n.attrs?.[name];
  return typeof v === 'number' ? v : fallback;
};
const attrInts = (n: NodeSpec, name: string): number[] | undefined => {
  const v = n.attrs?.[name];
  return Array.isArray(v) ? v : undefined;
};
const attrFloat = (n: NodeSpec, name: string, fallback: number): number => {
  const v = n.attrs?.[name] as Attr | undefined;
  return v && typeof v === 'object' && 'f' in v ? v.f : fallback;
};
const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Sums a gradient of shape `from` down to the (broadcast-compatible) shape `to`. */
export function reduceTo(g: GraphBuilder, grad: string, from: Dims, to: Dims): string {
  if (from.join(',') === to.join(',')) return grad;
  const lead = from.length - to.length;
  const axes = from
    .map((d, i) => (i < lead || (to[i - lead] === 1 && d !== 1) ? i : -1))
    .filter((i) => i >= 0);
  const summed = axes.length ? g.op('ReduceSum', [grad, g.constInt64(axes)], { keepdims: 1 }) : grad;
  return lead > 0 || from.some((d, i) => i >= lead && to[i - lead] === 1 && d !== 1)
    ? g.op('Reshape', [summed, g.constInt64(to)])
    : summed;
}

const swapLastPerm = (rank: number): number[] => {
  const perm = range(0, rank);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
};

/**
 * Swaps the last two axes. When `x` itself is such a transpose (a linear layer's Transpose(W)), returns its
 * input instead: onnxruntime would otherwise constant-fold a second full copy of every weight.
 */
function transposeLast(ctx: GradContext, x: string, rank: number): string {
  const perm = swapLastPerm(rank);
  const p = ctx.producer(x);
  if (p?.opType === 'Transpose' && (p.attrs?.perm as number[] | undefined)?.join(',') === perm.join(','))
    return p.inputs[0];
  return ctx.g.op('Transpose', [x], { perm });
}

const unary =
  (f: (g: GraphBuilder, dy: string, x: string, y: string) => string): GradRule =>
  (n, [dy], { g }) => [f(g, dy as string, n.inputs[0], n.outputs[0])];

const reshapeBack: GradRule = (n, [dy], { g, dims, needs }) => [
  needs(0) ? g.op('Reshape', [dy as string, g.constInt64(dims(n.inputs[0]))]) : undefined,
];

/** Shared backward of the normalisations: x̂ = (x - mean) / sqrt(var + eps) over `axes`, y = x̂·γ + β. */
function normalizationGrad(
  ctx: GradContext,
  x: string,
  dy: string,
  gamma: string | undefined,
  gammaView: string | undefined,
  axes: number[],
  eps: number,
): { dx: string; xhat: string } {
  const { g } = ctx;
  const mean = (v: string) => g.op('ReduceMean', [v], { axes, keepdims: 1 });
  const centred = g.op('Sub', [x, mean(x)]);
  const variance = mean(g.op('Mul', [centred, centred]));
  const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
  const xhat = g.op('Mul', [centred, rstd]);
  const gy = gamma ? g.op('Mul', [dy, gammaView ?? gamma]) : dy;
  // dx = rstd · (gy − mean(gy) − x̂ · mean(gy · x̂))
  const inner = g.op('Sub', [
    g.op('Sub', [gy, mean(gy)]),
    g.op('Mul', [xhat, mean(g.op('Mul', [gy, xhat]))]),
  ]);
  return { dx: g.op('Mul', [rstd, inner]), xhat };
}

export const GRAD_RULES: Record<string, GradRule> = {
  Identity: (_n, [dy]) => [dy],
  Neg: unary((g, dy) => g.op('Neg', [dy])),
  Exp: unary((g, dy, _x, y) => g.op('Mul', [dy, y])),
  Log: unary((g, dy, x) => g.op('Div', [dy, x])),
  Reciprocal: unary((g, dy, _x, y) => g.op('Neg', [g.op('Mul', [dy, g.op('Mul', [y, y])])])),
  Sqrt: unary((g, dy, _x, y) => g.op('Div', [dy, g.op('Mul', [y, g.scalar(2)])])),
  Sigmoid: unary((g, dy, _x, y) => g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [g.scalar(1), y])])])),
  Tanh: unary((g, dy, _x, y) => g.op('Mul', [dy, g.op('Sub', [g.scalar(1), g.op('Mul', [y, y])])])),
  Sin: unary((g, dy, x) => g.op('Mul', [dy, g.op('Cos', [x])])),
  Cos: unary((g, dy, x) => g.op('Neg', [g.op('Mul', [dy, g.op('Sin', [x])])])),
  // d erf(x)/dx = 2/sqrt(pi) · exp(−x²)
  Erf: unary((g, dy, x) =>
    g.op('Mul', [
      dy,
      g.op('Mul', [g.op('Exp', [g.op('Neg', [g.op('Mul', [x, x])])]), g.scalar(2 / Math.sqrt(Math.PI))]),
    ]),
  ),

  Add: (n, [dy], { g, dims, needs }) => {
    const y = dims(n.outputs[0]);
    return n.inputs.map((x, i) => (needs(i) ? reduceTo(g, dy as string, y, dims(x)) : undefined));
  },
  Sum: (n, [dy], { g, dims, needs }) => {
    const y = dims(n.outputs[0]);
    return n.inputs.map((x, i) => (needs(i) ? reduceTo(g, dy as string, y, dims(x)) : undefined));
  },
  Sub: (n, [dy], { g, dims, needs }) => {
    const y = dims(n.outputs[0]);
    return [
      needs(0) ? reduceTo(g, dy as string, y, dims(n.inputs[0])) : undefined,
      needs(1) ? reduceTo(g, g.op('Neg', [dy as string]), y, dims(n.inputs[1])) : undefined,
    ];
  },
  Mul: (n, [dy], { g, dims, needs }) => {
    const [a, b] = n.inputs;
    const y = dims(n.outputs[0]);
    return [
      needs(0) ? reduceTo(g, g.op('Mul', [dy as string, b]), y, dims(a)) : undefined,
      needs(1) ? reduceTo(g, g.op('Mul', [dy as string, a]), y, dims(b)) : undefined,
    ];
  },
  Div: (n, [dy], { g, dims, needs }) => {
    const [a, b] = n.inputs;
    const y = dims(n.outputs[0]);
    // d(a/b)/db = −a/b² = −y/b
    return [
      needs(0) ? reduceTo(g, g.op('Div', [dy as string, b]), y, dims(a)) : undefined,
      needs(1)
        ? reduceTo(g, g.op('Neg', [g.op('Div', [g.op('Mul', [dy as string, n.outputs[0]]), b])]), y, dims(b))
        : undefined,
    ];
  },
  Pow: (n, [dy], { g, dims, needs }) => {
    const [a, p] = n.inputs;
    const y = dims(n.outputs[0]);
    // d a^p/da = p·a^(p−1); d a^p/dp = a^p·ln a
    return [
      needs(0)
        ? reduceTo(
            g,
            g.op('Mul', [dy as string, g.op('Mul', [p, g.op('Pow', [a, g.op('Sub', [p, g.scalar(1)])])])]),
            y,
            dims(a),
          )
        : undefined,
      needs(1)
        ? reduceTo(g, g.op('Mul', [dy as string, g.op('Mul', [n.outputs[0], g.op('Log', [a])])]), y, dims(p))
        : undefined,
    ];
  },

  MatMul: (n, [dy], ctx) => {
    const { g, dims, needs } = ctx;
    const [a, b] = n.inputs;
    const da = dims(a);
    const db = dims(b);
    const batch = dims(n.outputs[0]).slice(0, -2);
    return [
      needs(0)
        ? reduceTo(
            g,
            g.op('MatMul', [dy as string, transposeLast(ctx, b, db.length)]),
            [...batch, da[da.length - 2], da[da.length - 1]],
            da,
          )
        : undefined,
      needs(1)
        ? reduceTo(
            g,
            g.op('MatMul', [transposeLast(ctx, a, da.length), dy as string]),
            [...batch, db[db.length - 2], db[db.length - 1]],
            db,
          )
        : undefined,
    ];
  },
  Gemm: (n, [dy], { g, dims, needs }) => {
    const [a, b, c] = n.inputs;
    const alpha = attrFloat(n, 'alpha', 1);
    const beta = attrFloat(n, 'beta', 1);
    const tA = attrInt(n, 'transA', 0) === 1;
    const tB = attrInt(n, 'transB', 0) === 1;
    const T = (v: string) => g.op('Transpose', [v], { perm: [1, 0] });
    const scaled = alpha === 1 ? (dy as string) : g.op('Mul', [dy as string, g.scalar(alpha)]);
    // Y = A'B': dA' = dY·B'ᵀ, dB' = A'ᵀ·dY, then undo the transposes
    const aEff = tA ? T(a) : a;
    const bEff = tB ? T(b) : b;
    const dAeff = needs(0) ? g.op('MatMul', [scaled, T(bEff)]) : undefined;
    const dBeff = needs(1) ? g.op('MatMul', [T(aEff), scaled]) : undefined;
    return [
      dAeff && (tA ? T(dAeff) : dAeff),
      dBeff && (tB ? T(dBeff) : dBeff),
      c && needs(2)
        ? reduceTo(
            g,
            beta === 1 ? (dy as string) : g.op('Mul', [dy as string, g.scalar(beta)]),
            dims(n.outputs[0]),
            dims(c),
          )
        : undefined,
    ];
  },

  Transpose: (n, [dy], { g, dims }) => {
    const rank = dims(n.inputs[0]).length;
    const perm = attrInts(n, 'perm') ?? range(0, rank).reverse();
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => {
      inverse[p] = i;
    });
    return [g.op('Transpose', [dy as string], { perm: inverse })];
  },
  Reshape: reshapeBack,
  Unsqueeze: reshapeBack,
  Squeeze: reshapeBack,
  Flatten: reshapeBack,
  Expand: (n, [dy], { g, dims }) => [reduceTo(g, dy as string, dims(n.outputs[0]), dims(n.inputs[0]))],

  Split: (n, dys, { g, dims }) => {
    const x = dims(n.inputs[0]);
    const axis = normAxis(attrInt(n, 'axis', 0), x.length);
    const parts = n.outputs.map((o, k) => dys[k] ?? g.constFloat(new Float32Array(numel(dims(o))), dims(o)));
    return [g.op('Concat', parts, { axis })];
  },
  Concat: (n, [dy], { g, dims, needs }) => {
    const rank = dims(n.inputs[0]).length;
    const axis = normAxis(attrInt(n, 'axis', 0), rank);
    let offset = 0;
    return n.inputs.map((x, i) => {
      const size = dims(x)[axis];
      const start = offset;
      offset += size;
      if (!needs(i)) return undefined;
      return g.op('Slice', [
        dy as string,
        g.constInt64([start]),
        g.constInt64([start + size]),
        g.constInt64([axis]),
      ]);
    });
  },
  Slice: (n, [dy], { g, dims, ints }) => {
    const x = dims(n.inputs[0]);
    const starts = ints(n.inputs[1]);
    const ends = ints(n.inputs[2]);
    const axes = n.inputs[3] ? ints(n.inputs[3]) : starts.map((_, i) => i);
    if (n.inputs[4] && ints(n.inputs[4]).some((s) => s !== 1))
      throw new Error(`${n.name}: gradient of Slice with steps other than 1 is not implemented`);
    const pads = new Array<number>(2 * x.length).fill(0);
    axes.forEach((a0, i) => {
      const a = normAxis(a0, x.length);
      const { start, end } = clampSlice(starts[i], ends[i], x[a]);
      pads[a] = start;
      pads[a + x.length] = x[a] - end;
    });
    return [g.op('Pad', [dy as string, g.constInt64(pads)])];
  },

  Softmax: (n, [dy], { g, dims }) => {
    const rank = dims(n.inputs[0]).length;
    const axis = normAxis(attrInt(n, 'axis', -1), rank);
    const y = n.outputs[0];
    // dx = y ⊙ (dy − Σ_axis(dy ⊙ y))
    const dot = g.op('ReduceSum', [g.op('Mul', [dy as string, y]), g.constInt64([axis])], { keepdims: 1 });
    return [g.op('Mul', [y, g.op('Sub', [dy as string, dot])])];
  },
  ReduceMean: (n, [dy], { g, dims }) => {
    const x = dims(n.inputs[0]);
    const listed = attrInts(n, 'axes') ?? [];
    const axes = listed.length ? listed.map((a) => normAxis(a, x.length)) : range(0, x.length);
    const count = axes.reduce((acc, a) => acc * x[a], 1);
    const kept = x.map((d, i) => (axes.includes(i) ? 1 : d));
    const spread = g.op('Expand', [g.op('Reshape', [dy as string, g.constInt64(kept)]), g.constInt64(x)]);
    return [g.op('Mul', [spread, g.scalar(1 / count)])];
  },
  ReduceSum: (n, [dy], { g, dims, ints }) => {
    const x = dims(n.inputs[0]);
    const listed = n.inputs[1] ? ints(n.inputs[1]) : [];
    const axes = listed.length ? listed.map((a) => normAxis(a, x.length)) : range(0, x.length);
    const kept = x.map((d, i) => (axes.includes(i) ? 1 : d));
    return [g.op('Expand', [g.op('Reshape', [dy as string, g.constInt64(kept)]), g.constInt64(x)])];
  },

  LayerNormalization: (n, [dy], ctx) => {
    const { g, dims, needs } = ctx;
    const [x, gamma, beta] = n.inputs;
    const xd = dims(x);
    const axis = normAxis(attrInt(n, 'axis', -1), xd.length);
    const axes = range(axis, xd.length);
    const { dx, xhat } = normalizationGrad(
      ctx,
      x,
      dy as string,
      gamma,
      undefined,
      axes,
      attrFloat(n, 'epsilon', 1e-5),
    );
    return [
      needs(0) ? dx : undefined,
      needs(1) ? reduceTo(g, g.op('Mul', [dy as string, xhat]), xd, dims(gamma)) : undefined,
      beta && needs(2) ? reduceTo(g, dy as string, xd, dims(beta)) : undefined,
    ];
  },
  InstanceNormalization: (n, [dy], ctx) => {
    const { g, dims, needs } = ctx;
    const [x, scale] = n.inputs;
    const xd = dims(x);
    const c = xd[1];
    const view = g.op('Reshape', [scale, g.constInt64([c, ...xd.slice(2).map(() => 1)])]);
    const { dx, xhat } = normalizationGrad(
      ctx,
      x,
      dy as string,
      scale,
      view,
      range(2, xd.length),
      attrFloat(n, 'epsilon', 1e-5),
    );
    const perChannel = (v: string) =>
      g.op('ReduceSum', [v, g.constInt64([0, ...range(2, xd.length)])], { keepdims: 0 });
    return [
      needs(0) ? dx : undefined,
      needs(1) ? perChannel(g.op('Mul', [dy as string, xhat])) : undefined,
      needs(2) ? perChannel(dy as string) : undefined,
    ];
  },

  Conv: (n, [dy], { g, dims, needs }) => {
    const [x, w, b] = n.inputs;
    const xd = dims(x);
    const wd = dims(w);
    const yd = dims(n.outputs[0]);
    const k = wd.slice(2);
    const nsp = k.length;
    const strides = attrInts(n, 'strides') ?? k.map(() => 1);
    const dil = attrInts(n, 'dilations') ?? k.map(() => 1);
    const pads = attrInts(n, 'pads') ?? new Array<number>(2 * nsp).fill(0);
    const group = attrInt(n, 'group', 1);
    if (n.attrs?.auto_pad && n.attrs.auto_pad !== 'NOTSET')
      throw new Error(`${n.name}: gradient of Conv with auto_pad is not implemented`);
    let dx: string | undefined;
    if (needs(0)) {
      // the adjoint of a strided convolution is the transposed convolution with the same kernel; the
      // output padding restores the rows the forward stride dropped
      const outputPadding = k.map(
        (kk, i) =>
          xd[2 + i] - ((yd[2 + i] - 1) * strides[i] - pads[i] - pads[i + nsp] + dil[i] * (kk - 1) + 1),
      );
      dx = g.op('ConvTranspose', [dy as string, w], {
        kernel_shape: k,
        strides,
        dilations: dil,
        pads,
        group,
        output_padding: outputPadding,
      });
    }
    let dw: string | undefined;
    if (needs(1)) {
      if (group !== 1) throw new Error(`${n.name}: weight gradient of grouped Conv is not implemented`);
      // dW[o,i,·] = Σ_n x[n,i] ⋆ dy[n,o]: a convolution over the batch axis, with stride and dilation swapped
      const perm = [1, 0, ...range(2, 2 + nsp)];
      const xt = g.op('Transpose', [x], { perm });
      const dyt = g.op('Transpose', [dy as string], { perm });
      const full = g.op('Conv', [xt, dyt], {
        kernel_shape: yd.slice(2),
        strides: dil,
        dilations: strides,
        pads,
      });
      // the correlation can extend past the kernel when the stride does not divide the padded input
      const fullSpatial = xd
        .slice(2)
        .map(
          (h, i) => Math.floor((h + pads[i] + pads[i + nsp] - strides[i] * (yd[2 + i] - 1) - 1) / dil[i]) + 1,
        );
      const cropped = fullSpatial.some((s, i) => s !== k[i])
        ? g.op('Slice', [
            full,
            g.constInt64(k.map(() => 0)),
            g.constInt64(k),
            g.constInt64(range(2, 2 + nsp)),
          ])
        : full;
      dw = g.op('Transpose', [cropped], { perm });
    }
    const db =
      b && needs(2)
        ? g.op('ReduceSum', [dy as string, g.constInt64([0, ...range(2, 2 + nsp)])], { keepdims: 0 })
        : undefined;
    return [dx, dw, db];
  },

  Resize: (n, [dy], { g, dims, floats }) => {
    const x = dims(n.inputs[0]);
    const scales = floats(n.inputs[2]);
    const mode = n.attrs?.mode ?? 'nearest';
    const ctm = n.attrs?.coordinate_transformation_mode ?? 'half_pixel';
    const nearest = n.attrs?.nearest_mode ?? 'round_prefer_floor';
    if (
      mode !== 'nearest' ||
      ctm !== 'asymmetric' ||
      nearest !== 'floor' ||
      !scales ||
      scales.some((s) => !Number.isInteger(s))
    ) {
      throw new Error(
        `${n.name}: gradient of Resize is implemented for nearest/asymmetric/floor with integer scales only`,
      );
    }
    // every input pixel is copied to a block of s×s outputs: its gradient is the block's sum
    const blocks = x.flatMap((d, i) => [d, scales[i]]);
    const summed = g.op(
      'ReduceSum',
      [g.op('Reshape', [dy as string, g.constInt64(blocks)]), g.constInt64(x.map((_, i) => 2 * i + 1))],
      { keepdims: 0 },
    );
    return [summed];
  },
};

/** Ops whose outputs never carry a gradient (shapes, integer plumbing). */
export const NON_DIFFERENTIABLE = new Set(['Shape', 'Size', 'ConstantOfShape', 'Equal', 'Greater', 'Less']);
