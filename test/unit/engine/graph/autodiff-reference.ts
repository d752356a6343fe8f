// A float64 interpreter for the ONNX ops the builders and the gradient rules emit, written from the ONNX
// operator specs (https://onnx.ai/onnx/operators/). Test-only: it gives exact-enough forward values for
// central finite differences and evaluates the emitted backward graph in float64, so the derivative rules
// are checked without float32 noise. onnxruntime's float32 run is compared against it separately.

import { builderIr } from '../../../../src/engine/graph/autodiff-ir.ts';
import type { GraphBuilder } from '../../../../src/engine/graph/builder.ts';
import { DataType, type NodeSpec } from '../../../../src/engine/graph/onnx-proto.ts';

export interface T64 {
  data: Float64Array;
  dims: number[];
}

const numel = (d: number[]) => d.reduce((a, b) => a * b, 1);
const strides = (d: number[]) => {
  const s = new Array<number>(d.length).fill(1);
  for (let i = d.length - 2; i >= 0; i--) s[i] = s[i + 1] * d[i + 1];
  return s;
};
const norm = (a: number, r: number) => (a < 0 ? a + r : a);

function broadcast(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    return x === 1 ? y : x;
  });
}

/** index into `t` (broadcast to `out` dims) for each flat index of `out` */
function broadcastIndex(t: number[], out: number[]): Int32Array {
  const n = numel(out);
  const idx = new Int32Array(n);
  const os = strides(out);
  const padded = [...new Array(out.length - t.length).fill(1), ...t];
  const ts = strides(padded);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let j = 0;
    for (let a = 0; a < out.length; a++) {
      const c = Math.floor(rem / os[a]);
      rem -= c * os[a];
      if (padded[a] !== 1) j += c * ts[a];
    }
    idx[i] = j;
  }
  return idx;
}

function elementwise(a: T64, b: T64, f: (x: number, y: number) => number): T64 {
  const dims = broadcast(a.dims, b.dims);
  const ia = broadcastIndex(a.dims, dims);
  const ib = broadcastIndex(b.dims, dims);
  const data = new Float64Array(numel(dims));
  for (let i = 0; i < data.length; i++) data[i] = f(a.data[ia[i]], b.data[ib[i]]);
  return { data, dims };
}

const map = (a: T64, f: (x: number) => number): T64 => ({ data: a.data.map(f), dims: [...a.dims] });

/** erf to ~1e-15: Taylor series near 0, Lentz continued fraction for erfc in the tails */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/sqrt(pi) · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

function transpose(x: T64, perm: number[]): T64 {
  const dims = perm.map((p) => x.dims[p]);
  const xs = strides(x.dims);
  const os = strides(dims);
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) {
    let rem = i;
    let j = 0;
    for (let a = 0; a < dims.length; a++) {
      const c = Math.floor(rem / os[a]);
      rem -= c * os[a];
      j += c * xs[perm[a]];
    }
    data[i] = x.data[j];
  }
  return { data, dims };
}

function matmul(a: T64, b: T64): T64 {
  const m = a.dims[a.dims.length - 2];
  const k = a.dims[a.dims.length - 1];
  const n = b.dims[b.dims.length - 1];
  const batch = broadcast(a.dims.slice(0, -2), b.dims.slice(0, -2));
  const ia = broadcastIndex(a.dims.slice(0, -2), batch);
  const ib = broadcastIndex(b.dims.slice(0, -2), batch);
  const nb = numel(batch);
  const data = new Float64Array(nb * m * n);
  for (let bi = 0; bi < nb; bi++) {
    const ao = ia[bi] * m * k;
    const bo = ib[bi] * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a.data[ao + i * k + p] * b.data[bo + p * n + j];
        data[bi * m * n + i * n + j] = s;
      }
  }
  return { data, dims: [...batch, m, n] };
}

function reduce(x: T64, axes: number[], keep: boolean, mean: boolean): T64 {
  const ax = new Set((axes.length ? axes : x.dims.map((_, i) => i)).map((a) => norm(a, x.dims.length)));
  const keptDims = x.dims.map((d, i) => (ax.has(i) ? 1 : d));
  const out = new Float64Array(numel(keptDims));
  const idx = broadcastIndex(keptDims, x.dims);
  for (let i = 0; i < x.data.length; i++) out[idx[i]] += x.data[i];
  const count = x.data.length / out.length;
  if (mean) for (let i = 0; i < out.length; i++) out[i] /= count;
  return { data: out, dims: keep ? keptDims : x.dims.filter((_, i) => !ax.has(i)) };
}

function normalize(x: T64, axes: number[], eps: number): T64 {
  const mean = reduce(x, axes, true, true);
  const centred = elementwise(x, mean, (a, b) => a - b);
  const variance = reduce(
    map(centred, (v) => v * v),
    axes,
    true,
    true,
  );
  return elementwise(centred, variance, (c, v) => c / Math.sqrt(v + eps));
}

/** 2-D convolution / transposed convolution (NCHW), ONNX attribute semantics */
function conv2d(x: T64, w: T64, b: T64 | undefined, n: NodeSpec, transposed: boolean): T64 {
  const at = (name: string, d: number[]) => (n.attrs?.[name] as number[] | undefined) ?? d;
  const s = at('strides', [1, 1]);
  const dl = at('dilations', [1, 1]);
  const p = at('pads', [0, 0, 0, 0]);
  const group = (n.attrs?.group as number | undefined) ?? 1;
  const [N, C, H, W] = x.dims;
  const [kh, kw] = w.dims.slice(2);
  if (!transposed) {
    const O = w.dims[0];
    const cpg = C / group;
    const opg = O / group;
    const Ho = Math.floor((H + p[0] + p[2] - dl[0] * (kh - 1) - 1) / s[0]) + 1;
    const Wo = Math.floor((W + p[1] + p[3] - dl[1] * (kw - 1) - 1) / s[1]) + 1;
    const out = new Float64Array(N * O * Ho * Wo);
    for (let nn = 0; nn < N; nn++)
      for (let o = 0; o < O; o++) {
        const gi = Math.floor(o / opg);
        for (let y = 0; y < Ho; y++)
          for (let xx = 0; xx < Wo; xx++) {
            let acc = b ? b.data[o] : 0;
            for (let c = 0; c < cpg; c++)
              for (let i = 0; i < kh; i++)
                for (let j = 0; j < kw; j++) {
                  const iy = y * s[0] - p[0] + i * dl[0];
                  const ix = xx * s[1] - p[1] + j * dl[1];
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  acc +=
                    x.data[((nn * C + gi * cpg + c) * H + iy) * W + ix] *
                    w.data[((o * cpg + c) * kh + i) * kw + j];
                }
            out[((nn * O + o) * Ho + y) * Wo + xx] = acc;
          }
      }
    return { data: out, dims: [N, O, Ho, Wo] };
  }
  // transposed: w [C, O/group, kh, kw]; every input pixel scatters into the output
  const opg = w.dims[1];
  const O = opg * group;
  const cpg = C / group;
  const op = at('output_padding', [0, 0]);
  const Ho = (H - 1) * s[0] - p[0] - p[2] + dl[0] * (kh - 1) + 1 + op[0];
  const Wo = (W - 1) * s[1] - p[1] - p[3] + dl[1] * (kw - 1) + 1 + op[1];
  const out = new Float64Array(N * O * Ho * Wo);
  for (let nn = 0; nn < N; nn++)
    for (let c = 0; c < C; c++) {
      const gi = Math.floor(c / cpg);
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) {
          const v = x.data[((nn * C + c) * H + y) * W + xx];
          for (let o = 0; o < opg; o++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const oy = y * s[0] - p[0] + i * dl[0];
                const ox = xx * s[1] - p[1] + j * dl[1];
                if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
                out[((nn * O + gi * opg + o) * Ho + oy) * Wo + ox] +=
                  v * w.data[((c * opg + o) * kh + i) * kw + j];
              }
        }
    }
  if (b) for (let i = 0; i < out.length; i++) out[i] += b.data[Math.floor(i / (Ho * Wo)) % O];
  return { data: out, dims: [N, O, Ho, Wo] };
}

function slice(x: T64, starts: number[], ends: number[], axes: number[]): T64 {
  const lo = x.dims.map(() => 0);
  const hi = [...x.dims];
  axes.forEach((a0, i) => {
    const a = norm(a0, x.dims.length);
    const fix = (v: number) => Math.min(Math.max(v < 0 ? v + x.dims[a] : v, 0), x.dims[a]);
    lo[a] = fix(starts[i]);
    hi[a] = fix(ends[i]);
  });
  const dims = hi.map((h, i) => h - lo[i]);
  const out = new Float64Array(numel(dims));
  const os = strides(dims);
  const xs = strides(x.dims);
  for (let i = 0; i < out.length; i++) {
    let rem = i;
    let j = 0;
    for (let a = 0; a < dims.length; a++) {
      const c = Math.floor(rem / os[a]);
      rem -= c * os[a];
      j += (c + lo[a]) * xs[a];
    }
    out[i] = x.data[j];
  }
  return { data: out, dims };
}

function concat(parts: T64[], axis: number): T64 {
  const a = norm(axis, parts[0].dims.length);
  const dims = [...parts[0].dims];
  dims[a] = parts.reduce((s, p) => s + p.dims[a], 0);
  const outer = numel(dims.slice(0, a));
  const out = new Float64Array(numel(dims));
  let o = 0;
  for (let i = 0; i < outer; i++)
    for (const p of parts) {
      const chunk = numel(p.dims.slice(a));
      out.set(p.data.subarray(i * chunk, (i + 1) * chunk), o);
      o += chunk;
    }
  return { data: out, dims };
}

export type Env = Map<string, T64>;

/** Evaluates every node of `g` in order; `feeds` holds the graph inputs, `weights` the initializers. */
export function evaluate64(g: GraphBuilder, feeds: Record<string, T64>): Env {
  const ir = builderIr(g);
  const env: Env = new Map(Object.entries(feeds));
  for (const c of ir.constants) {
    const raw = c.raw as Uint8Array;
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    const data =
      c.dataType === DataType.INT64
        ? Float64Array.from(new BigInt64Array(buf), Number)
        : Float64Array.from(new Float32Array(buf));
    env.set(c.name, { data, dims: c.dims });
  }
  for (const w of g.weightEntries()) env.set(w.name, { data: Float64Array.from(w.load()), dims: w.dims });
  for (const n of ir.nodes) {
    const outs = run(n, env);
    outs.forEach((o, k) => {
      env.set(n.outputs[k], o);
    });
  }
  return env;
}

function run(n: NodeSpec, env: Env): T64[] {
  const inp = (i: number): T64 => {
    const v = env.get(n.inputs[i]);
    if (!v) throw new Error(`${n.name}: missing ${n.inputs[i]}`);
    return v;
  };
  const ints = (i: number) => Array.from(inp(i).data);
  const attr = <V>(name: string, d: V): V => (n.attrs?.[name] as V | undefined) ?? d;
  const fattr = (name: string, d: number) => (n.attrs?.[name] as { f: number } | undefined)?.f ?? d;
  const x = () => inp(0);
  switch (n.opType) {
    case 'Identity':
      return [x()];
    case 'Neg':
      return [map(x(), (v) => -v)];
    case 'Exp':
      return [map(x(), Math.exp)];
    case 'Log':
      return [map(x(), Math.log)];
    case 'Reciprocal':
      return [map(x(), (v) => 1 / v)];
    case 'Sqrt':
      return [map(x(), Math.sqrt)];
    case 'Sigmoid':
      return [map(x(), (v) => 1 / (1 + Math.exp(-v)))];
    case 'Tanh':
      return [map(x(), Math.tanh)];
    case 'Sin':
      return [map(x(), Math.sin)];
    case 'Cos':
      return [map(x(), Math.cos)];
    case 'Erf':
      return [map(x(), erf64)];
    case 'Add':
      return [elementwise(inp(0), inp(1), (a, b) => a + b)];
    case 'Sub':
      return [elementwise(inp(0), inp(1), (a, b) => a - b)];
    case 'Mul':
      return [elementwise(inp(0), inp(1), (a, b) => a * b)];
    case 'Div':
      return [elementwise(inp(0), inp(1), (a, b) => a / b)];
    case 'Pow':
      return [elementwise(inp(0), inp(1), (a, b) => a ** b)];
    case 'Sum':
      return [n.inputs.slice(1).reduce((acc, _, i) => elementwise(acc, inp(i + 1), (a, b) => a + b), inp(0))];
    case 'MatMul':
      return [matmul(inp(0), inp(1))];
    case 'Gemm': {
      let a = inp(0);
      let b = inp(1);
      if (attr('transA', 0)) a = transpose(a, [1, 0]);
      if (attr('transB', 0)) b = transpose(b, [1, 0]);
      let y = map(matmul(a, b), (v) => v * fattr('alpha', 1));
      if (n.inputs[2])
        y = elementwise(
          y,
          map(inp(2), (v) => v * fattr('beta', 1)),
          (p, q) => p + q,
        );
      return [y];
    }
    case 'Transpose': {
      const t = x();
      return [
        transpose(
          t,
          attr(
            'perm',
            t.dims.map((_, i) => t.dims.length - 1 - i),
          ),
        ),
      ];
    }
    case 'Reshape': {
      const t = x();
      const target = ints(1).map((v, i) => (v === 0 ? t.dims[i] : v));
      const known = target.filter((v) => v !== -1).reduce((a, b) => a * b, 1);
      return [{ data: t.data, dims: target.map((v) => (v === -1 ? t.data.length / known : v)) }];
    }
    case 'Shape':
      return [{ data: Float64Array.from(x().dims), dims: [x().dims.length] }];
    case 'Unsqueeze': {
      const dims = [...x().dims];
      const rank = dims.length + ints(1).length;
      for (const a of ints(1)
        .map((v) => norm(v, rank))
        .sort((p, q) => p - q))
        dims.splice(a, 0, 1);
      return [{ data: x().data, dims }];
    }
    case 'Expand': {
      const dims = broadcast(x().dims, ints(1));
      const idx = broadcastIndex(x().dims, dims);
      return [{ data: Float64Array.from(idx, (i) => x().data[i]), dims }];
    }
    case 'Split': {
      const t = x();
      const axis = norm(attr('axis', 0), t.dims.length);
      const sizes = n.inputs[1] ? ints(1) : n.outputs.map(() => t.dims[axis] / n.outputs.length);
      let off = 0;
      return sizes.map((s) => {
        const part = slice(t, [off], [off + s], [axis]);
        off += s;
        return part;
      });
    }
    case 'Concat':
      return [
        concat(
          n.inputs.map((_, i) => inp(i)),
          attr('axis', 0),
        ),
      ];
    case 'Slice':
      return [slice(x(), ints(1), ints(2), n.inputs[3] ? ints(3) : ints(1).map((_, i) => i))];
    case 'Pad': {
      const t = x();
      const pads = ints(1);
      const r = t.dims.length;
      const dims = t.dims.map((d, i) => d + pads[i] + pads[i + r]);
      const out = new Float64Array(numel(dims));
      const os = strides(dims);
      const ts = strides(t.dims);
      for (let i = 0; i < t.data.length; i++) {
        let rem = i;
        let j = 0;
        for (let a = 0; a < r; a++) {
          const c = Math.floor(rem / ts[a]);
          rem -= c * ts[a];
          j += (c + pads[a]) * os[a];
        }
        out[j] = t.data[i];
      }
      return [{ data: out, dims }];
    }
    case 'Softmax': {
      const t = x();
      const axis = norm(attr('axis', -1), t.dims.length);
      const e = map(t, Math.exp);
      const s = reduce(e, [axis], true, false);
      return [elementwise(e, s, (a, b) => a / b)];
    }
    case 'ReduceMean':
      return [reduce(x(), attr('axes', [] as number[]), attr('keepdims', 1) === 1, true)];
    case 'ReduceSum':
      return [reduce(x(), n.inputs[1] ? ints(1) : [], attr('keepdims', 1) === 1, false)];
    case 'LayerNormalization': {
      const t = x();
      const axis = norm(attr('axis', -1), t.dims.length);
      const axes = t.dims.map((_, i) => i).filter((i) => i >= axis);
      let y = elementwise(normalize(t, axes, fattr('epsilon', 1e-5)), inp(1), (a, b) => a * b);
      if (n.inputs[2]) y = elementwise(y, inp(2), (a, b) => a + b);
      return [y];
    }
    case 'InstanceNormalization': {
      const t = x();
      const axes = t.dims.map((_, i) => i).filter((i) => i >= 2);
      const view = (v: T64) => ({ data: v.data, dims: [v.dims[0], ...axes.map(() => 1)] });
      const y = elementwise(normalize(t, axes, fattr('epsilon', 1e-5)), view(inp(1)), (a, b) => a * b);
      return [elementwise(y, view(inp(2)), (a, b) => a + b)];
    }
    case 'Conv':
      return [conv2d(inp(0), inp(1), n.inputs[2] ? inp(2) : undefined, n, false)];
    case 'ConvTranspose':
      return [conv2d(inp(0), inp(1), n.inputs[2] ? inp(2) : undefined, n, true)];
    case 'Resize': {
      const t = x();
      const scales = Array.from(inp(2).data);
      const dims = t.dims.map((d, i) => Math.floor(d * scales[i]));
      const os = strides(dims);
      const ts = strides(t.dims);
      const out = new Float64Array(numel(dims));
      for (let i = 0; i < out.length; i++) {
        let rem = i;
        let j = 0;
        for (let a = 0; a < dims.length; a++) {
          const c = Math.floor(rem / os[a]);
          rem -= c * os[a];
          j += Math.min(Math.floor(c / scales[a]), t.dims[a] - 1) * ts[a];
        }
        out[i] = t.data[j];
      }
      return [{ data: out, dims }];
    }
    default:
      throw new Error(`reference interpreter: no ${n.opType}`);
  }
}
