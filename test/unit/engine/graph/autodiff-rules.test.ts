// Every derivative rule against central finite differences of a float64 evaluation of the forward graph,
// and onnxruntime's float32 execution of the emitted backward graph against the float64 one.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TensorSource } from '../../../../src/engine/checkpoint/tensor-source.ts';
import { appendBackward } from '../../../../src/engine/graph/autodiff.ts';
import { inferShapes } from '../../../../src/engine/graph/autodiff-ir.ts';
import { GraphBuilder, MODEL_FILE } from '../../../../src/engine/graph/builder.ts';
import { injectLora } from '../../../../src/engine/graph/lora-inject.ts';
import { Layers } from '../../../../src/engine/graph/nn.ts';
import { OrtSession } from '../../../../src/engine/ort.ts';
import { evaluate64, type T64 } from './autodiff-reference.ts';

const root = mkdtempSync(join(tmpdir(), 'atelier-autodiff-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** mulberry32: small seeded generator for test inputs */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface InputSpec {
  dims: number[];
  /** values in [0.5, 1.5] instead of [-1, 1] (Sqrt, Log, Pow, divisors) */
  positive?: boolean;
}

interface Case {
  name: string;
  inputs: Record<string, InputSpec>;
  /** inputs to differentiate with respect to (default: all) */
  wrt?: string[];
  build(g: GraphBuilder, x: Record<string, string>): string;
}

/** in-memory weights for the Layers helpers */
function memorySource(tensors: Record<string, T64>): TensorSource {
  return {
    names: () => Object.keys(tensors),
    has: (n) => n in tensors,
    shape: (n) => tensors[n].dims,
    read: (n) => Float32Array.from(tensors[n].data),
    identity: () => 'memory',
  };
}

function randomTensor(next: () => number, spec: InputSpec): T64 {
  const n = spec.dims.reduce((a, b) => a * b, 1);
  const data = Float64Array.from({ length: n }, () =>
    Math.fround(spec.positive ? 0.5 + next() : 2 * next() - 1),
  );
  return { data, dims: spec.dims };
}

async function check(c: Case, seed: number) {
  const next = rng(seed);
  const g = new GraphBuilder(c.name);
  const names: Record<string, string> = {};
  const feeds: Record<string, T64> = {};
  const dims: Record<string, number[]> = {};
  for (const [name, spec] of Object.entries(c.inputs)) {
    names[name] = g.input(name, spec.dims);
    feeds[name] = randomTensor(next, spec);
    dims[name] = spec.dims;
  }
  const y = c.build(g, names);
  const yDims = inferShapes(g, dims).dims.get(y) as number[];
  // a random linear functional of y, so every output element gets a different weight
  const r = randomTensor(next, { dims: yDims });
  const loss = g.op('ReduceSum', [g.op('Mul', [y, g.constFloat(r.data, yDims)])], { keepdims: 0 });
  g.output('loss', loss, []);
  const wrt = c.wrt ?? Object.keys(c.inputs);
  const grads = appendBackward(g, { loss, wrt, shapes: inferShapes(g, dims) });
  for (const w of wrt) g.output(`grad.${w}`, grads.get(w) as string, dims[w]);

  // float64: analytic gradient vs central differences
  const lossAt = (f: Record<string, T64>) => (evaluate64(g, f).get(loss) as T64).data[0];
  const env = evaluate64(g, feeds);
  const h = 1e-5;
  let worstFd = 0;
  for (const w of wrt) {
    const analytic = (env.get(grads.get(w) as string) as T64).data;
    const count = analytic.length;
    const picks =
      count <= 24 ? [...Array(count).keys()] : Array.from({ length: 24 }, () => Math.floor(next() * count));
    for (const i of picks) {
      const plus = Float64Array.from(feeds[w].data);
      const minus = Float64Array.from(feeds[w].data);
      plus[i] += h;
      minus[i] -= h;
      const fd =
        (lossAt({ ...feeds, [w]: { data: plus, dims: dims[w] } }) -
          lossAt({ ...feeds, [w]: { data: minus, dims: dims[w] } })) /
        (2 * h);
      const err = Math.abs(fd - analytic[i]) / (1 + Math.abs(fd));
      worstFd = Math.max(worstFd, err);
      assert.ok(
        err < 1e-6,
        `${c.name}: d loss/d ${w}[${i}] analytic ${analytic[i]} vs finite difference ${fd}`,
      );
    }
  }

  // float32 onnxruntime run of the same graph vs the float64 evaluation
  const dir = mkdtempSync(join(root, 'g-'));
  g.emit(dir);
  const session = await OrtSession.create(join(dir, MODEL_FILE));
  try {
    const out = await session.run(
      Object.fromEntries(
        Object.entries(feeds).map(([k, v]) => [k, { data: Float32Array.from(v.data), dims: v.dims }]),
      ),
    );
    let worstOrt = 0;
    for (const w of wrt) {
      const a = out[`grad.${w}`].data;
      const e = (env.get(grads.get(w) as string) as T64).data;
      const scale = Math.max(1, ...Array.from(e, Math.abs));
      for (let i = 0; i < e.length; i++) worstOrt = Math.max(worstOrt, Math.abs(a[i] - e[i]) / scale);
    }
    assert.ok(worstOrt < 2e-5, `${c.name}: onnxruntime float32 gradients differ by ${worstOrt}`);
    return { worstFd, worstOrt };
  } finally {
    await session.dispose();
  }
}

const cases: Case[] = [
  {
    name: 'MatMul 2-D',
    inputs: { a: { dims: [3, 4] }, b: { dims: [4, 5] } },
    build: (g, x) => g.op('MatMul', [x.a, x.b]),
  },
  {
    name: 'MatMul batched x shared matrix (linear layer)',
    inputs: { a: { dims: [2, 3, 4] }, b: { dims: [4, 5] } },
    build: (g, x) => g.op('MatMul', [x.a, x.b]),
  },
  {
    name: 'MatMul 4-D with broadcast batch',
    inputs: { a: { dims: [2, 3, 4, 5] }, b: { dims: [1, 3, 5, 2] } },
    build: (g, x) => g.op('MatMul', [x.a, x.b]),
  },
  {
    name: 'Gemm transA transB alpha beta',
    inputs: { a: { dims: [4, 3] }, b: { dims: [5, 4] }, c: { dims: [5] } },
    build: (g, x) =>
      g.op('Gemm', [x.a, x.b, x.c], { transA: 1, transB: 1, alpha: { f: 0.7 }, beta: { f: 1.3 } }),
  },
  {
    name: 'Add / Sub / Mul / Div with broadcasting',
    inputs: {
      a: { dims: [2, 3, 4] },
      b: { dims: [4] },
      c: { dims: [3, 1] },
      d: { dims: [2, 1, 1], positive: true },
    },
    build: (g, x) => g.op('Div', [g.op('Mul', [g.op('Sub', [g.op('Add', [x.a, x.b]), x.c]), x.c]), x.d]),
  },
  {
    name: 'Pow (both operands) and Sqrt',
    inputs: { a: { dims: [3, 4], positive: true }, p: { dims: [1], positive: true } },
    build: (g, x) => g.op('Sqrt', [g.op('Pow', [x.a, g.op('Add', [x.p, g.scalar(1)])])]),
  },
  {
    name: 'Sigmoid, Tanh, Erf, Exp, Log, Neg, Reciprocal, Sin, Cos',
    inputs: { a: { dims: [2, 5] }, b: { dims: [2, 5], positive: true } },
    build: (g, x) => {
      const s = g.op('Mul', [g.op('Sigmoid', [x.a]), g.op('Tanh', [x.a])]);
      const e = g.op('Add', [g.op('Erf', [x.a]), g.op('Exp', [g.op('Neg', [x.a])])]);
      const l = g.op('Mul', [g.op('Log', [x.b]), g.op('Reciprocal', [x.b])]);
      const t = g.op('Add', [g.op('Sin', [x.a]), g.op('Cos', [x.b])]);
      return g.op('Sum', [s, e, l, t]);
    },
  },
  {
    name: 'Softmax over the last and a middle axis',
    inputs: { a: { dims: [2, 3, 4] } },
    build: (g, x) => g.op('Add', [g.op('Softmax', [x.a], { axis: -1 }), g.op('Softmax', [x.a], { axis: 1 })]),
  },
  {
    name: 'LayerNormalization (x, scale, bias)',
    inputs: { a: { dims: [2, 3, 6] }, s: { dims: [6] }, b: { dims: [6] } },
    build: (g, x) => g.op('LayerNormalization', [x.a, x.s, x.b], { axis: -1, epsilon: { f: 1e-5 } }),
  },
  {
    name: 'InstanceNormalization (x, scale, bias)',
    inputs: { a: { dims: [2, 3, 4, 2] }, s: { dims: [3] }, b: { dims: [3] } },
    build: (g, x) => g.op('InstanceNormalization', [x.a, x.s, x.b], { epsilon: { f: 1e-5 } }),
  },
  {
    name: 'GroupNorm as the engine builds it (Reshape, InstanceNormalization, Shape, affine)',
    inputs: { a: { dims: [2, 4, 3, 3] } },
    build: (g, x) => {
      const nn = new Layers(
        g,
        memorySource({
          'gn.weight': { data: Float64Array.from([1.1, 0.9, -0.5, 2]), dims: [4] },
          'gn.bias': { data: Float64Array.from([0.1, 0.2, -0.3, 0]), dims: [4] },
        }),
      );
      return nn.groupNorm(x.a, 'gn', 2, 1e-5);
    },
  },
  {
    name: 'Transpose, Reshape, Unsqueeze, Expand',
    inputs: { a: { dims: [2, 3, 4] }, b: { dims: [3, 1] } },
    build: (g, x) => {
      const t = g.op('Reshape', [g.op('Transpose', [x.a], { perm: [2, 0, 1] }), g.constInt64([4, 6])]);
      const u = g.op('Expand', [g.op('Unsqueeze', [x.b, g.constInt64([0])]), g.constInt64([2, 3, 4])]);
      return g.op('Add', [g.op('Reshape', [t, g.constInt64([2, 3, 4])]), u]);
    },
  },
  {
    name: 'Split (one part unused), Concat, Slice',
    inputs: { a: { dims: [2, 6] }, b: { dims: [2, 3] } },
    build: (g, x) => {
      const [p, , r] = g.opMulti('Split', [x.a, g.constInt64([2, 1, 3])], 3, { axis: 1 });
      const c = g.op('Concat', [p, x.b, r], { axis: 1 });
      return g.op('Slice', [c, g.constInt64([1]), g.constInt64([-1]), g.constInt64([1])]);
    },
  },
  {
    name: 'ReduceMean and ReduceSum',
    inputs: { a: { dims: [2, 3, 4] } },
    build: (g, x) =>
      g.op('Add', [
        g.op('ReduceMean', [x.a], { axes: [1], keepdims: 1 }),
        g.op('ReduceSum', [x.a, g.constInt64([1, 2])], { keepdims: 1 }),
      ]),
  },
  {
    name: 'Conv 3x3 pad 1 (x, W, b)',
    inputs: { a: { dims: [2, 3, 5, 5] }, w: { dims: [4, 3, 3, 3] }, b: { dims: [4] } },
    build: (g, x) =>
      g.op('Conv', [x.a, x.w, x.b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }),
  },
  {
    name: 'Conv stride 2 on an even size (downsampler)',
    inputs: { a: { dims: [1, 2, 6, 6] }, w: { dims: [3, 2, 3, 3] }, b: { dims: [3] } },
    build: (g, x) =>
      g.op('Conv', [x.a, x.w, x.b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }),
  },
  {
    name: 'Conv stride 2 on an odd size, no padding',
    inputs: { a: { dims: [1, 2, 7, 5] }, w: { dims: [2, 2, 3, 3] } },
    build: (g, x) => g.op('Conv', [x.a, x.w], { kernel_shape: [3, 3], pads: [0, 0, 0, 0], strides: [2, 2] }),
  },
  {
    name: 'Conv 1x1 and grouped Conv (input gradient)',
    inputs: { a: { dims: [1, 4, 3, 3] }, w: { dims: [4, 4, 1, 1] }, wg: { dims: [4, 2, 3, 3] } },
    wrt: ['a', 'w'],
    build: (g, x) => {
      const one = g.op('Conv', [x.a, x.w], { kernel_shape: [1, 1], pads: [0, 0, 0, 0], strides: [1, 1] });
      return g.op('Conv', [one, x.wg], {
        kernel_shape: [3, 3],
        pads: [1, 1, 1, 1],
        strides: [1, 1],
        group: 2,
      });
    },
  },
  {
    name: 'Resize nearest x2 (upsampler)',
    inputs: { a: { dims: [1, 2, 3, 2] } },
    build: (g, x) => new Layers(g, memorySource({})).upsample2x(x.a),
  },
  {
    name: 'SiLU, GELU, quick GELU compositions',
    inputs: { a: { dims: [2, 5] } },
    build: (g, x) => {
      const nn = new Layers(g, memorySource({}));
      return g.op('Add', [g.op('Add', [nn.silu(x.a), nn.gelu(x.a)]), nn.quickGelu(x.a)]);
    },
  },
  {
    name: 'multi-head attention as the engine builds it',
    inputs: { q: { dims: [2, 4, 8] }, k: { dims: [2, 3, 8] }, v: { dims: [2, 3, 8] } },
    build: (g, x) => new Layers(g, memorySource({})).attention(x.q, x.k, x.v, 2, 4),
  },
];

describe('reverse-mode derivative rules', () => {
  cases.forEach((c, i) => {
    it(c.name, async (t) => {
      t.diagnostic(JSON.stringify(await check(c, 1000 + i)));
    });
  });

  it('LoRA-injected linear: gradients of down and up, and the branch adds exactly (alpha/rank)·x·downᵀ·upᵀ', async (t) => {
    const next = rng(7);
    const w = randomTensor(next, { dims: [5, 4] });
    const b = randomTensor(next, { dims: [5] });
    const src = memorySource({ 'blk.attn1.to_out.0.weight': w, 'blk.attn1.to_out.0.bias': b });
    const c: Case = {
      name: 'lora linear',
      inputs: {
        x: { dims: [2, 3, 4] },
        'lora_unet_blk_attn1_to_out_0.lora_down.weight': { dims: [2, 4] },
        'lora_unet_blk_attn1_to_out_0.lora_up.weight': { dims: [5, 2] },
      },
      wrt: [
        'x',
        'lora_unet_blk_attn1_to_out_0.lora_down.weight',
        'lora_unet_blk_attn1_to_out_0.lora_up.weight',
      ],
      build: (g, x) => {
        const y = new Layers(g, src).linear(x.x, 'blk.attn1.to_out.0');
        // drop the inputs check() declared: injectLora declares the LoRA inputs itself
        const inputs = (g as unknown as { inputs: { name: string }[] }).inputs;
        inputs.splice(1, 2);
        const [l] = injectLora(g, [{ module: 'blk.attn1.to_out.0', rank: 2, alpha: 3 }]);
        assert.equal(l.prefix, 'lora_unet_blk_attn1_to_out_0');
        return y;
      },
    };
    t.diagnostic(JSON.stringify(await check(c, 99)));

    // forward: base + 1.5 · x·downᵀ·upᵀ
    const g = new GraphBuilder('lora-forward');
    const x = g.input('x', [1, 4]);
    const y = new Layers(g, src).linear(x, 'blk.attn1.to_out.0');
    injectLora(g, [{ module: 'blk.attn1.to_out.0', rank: 2, alpha: 3 }]);
    const xs = randomTensor(next, { dims: [1, 4] });
    const down = randomTensor(next, { dims: [2, 4] });
    const up = randomTensor(next, { dims: [5, 2] });
    const env = evaluate64(g, {
      x: xs,
      'lora_unet_blk_attn1_to_out_0.lora_down.weight': down,
      'lora_unet_blk_attn1_to_out_0.lora_up.weight': up,
    });
    const out = (env.get(y) as T64).data;
    for (let o = 0; o < 5; o++) {
      let base = b.data[o];
      for (let i = 0; i < 4; i++) base += w.data[o * 4 + i] * xs.data[i];
      let delta = 0;
      for (let r = 0; r < 2; r++) {
        let h = 0;
        for (let i = 0; i < 4; i++) h += down.data[r * 4 + i] * xs.data[i];
        delta += up.data[o * 2 + r] * h;
      }
      assert.ok(Math.abs(out[o] - (base + 1.5 * delta)) < 1e-12);
    }
  });
});
