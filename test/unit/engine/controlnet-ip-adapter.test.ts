// IP-Adapter graph pieces on tiny random weights generated here, against a float64 reference written
// directly from the formulas (CLIP vision transformer, ImageProjection, decoupled cross-attention).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TensorSource } from '../../../src/engine/checkpoint/tensor-source.ts';
import type { GraphBuilder } from '../../../src/engine/graph/builder.ts';
import {
  buildClipVisionGraph,
  buildIpAttentionGraph,
  buildIpProjectionGraph,
  type ClipVisionConfig,
  clipPixelValues,
  detectClipVisionConfig,
  detectIpAdapterConfig,
  ipAdapterLayerMap,
  unetAttentionOrder,
} from '../../../src/engine/models/ip-adapter.ts';
import { SD15_UNET } from '../../../src/engine/models/unet.ts';
import { OrtSession } from '../../../src/engine/ort.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** mulberry32 + Box-Muller: reproducible test weights */
function rng(seed: number) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
}

class MemorySource implements TensorSource {
  readonly t = new Map<string, { shape: number[]; data: Float32Array }>();
  constructor(shapes: [string, number[], number?][], seed: number) {
    const r = rng(seed);
    for (const [name, shape, std = 0.3] of shapes) {
      const n = shape.reduce((a, d) => a * d, 1);
      const isNormWeight = /norm.*\.weight$|layrnorm\.weight$/.test(name);
      this.t.set(name, {
        shape,
        data: Float32Array.from({ length: n }, () => (isNormWeight ? 1 : 0) + std * r()),
      });
    }
  }
  names() {
    return [...this.t.keys()];
  }
  has(n: string) {
    return this.t.has(n);
  }
  shape(n: string) {
    const e = this.t.get(n);
    if (!e) throw new Error(`no tensor ${n}`);
    return e.shape;
  }
  read(n: string) {
    return this.t.get(n)?.data as Float32Array;
  }
  identity() {
    return 'memory';
  }
  get(n: string) {
    return this.read(n);
  }
}

async function run(g: GraphBuilder, feeds: Parameters<OrtSession['run']>[0]) {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-ip-'));
  dirs.push(dir);
  g.emit(dir);
  const s = await OrtSession.create(join(dir, 'model.onnx'), { intraOpThreads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.dispose();
  }
}

// ---- float64 reference ---------------------------------------------------------------------------------
type Mat = number[][];
const linear = (x: Mat, w: Float32Array, b: Float32Array | undefined, out: number): Mat =>
  x.map((row) =>
    Array.from({ length: out }, (_, o) => {
      let s = b ? b[o] : 0;
      for (let i = 0; i < row.length; i++) s += w[o * row.length + i] * row[i];
      return s;
    }),
  );
const layerNorm = (x: Mat, w: Float32Array, b: Float32Array, eps = 1e-5): Mat =>
  x.map((row) => {
    const m = row.reduce((a, v) => a + v, 0) / row.length;
    const v = row.reduce((a, x2) => a + (x2 - m) ** 2, 0) / row.length;
    return row.map((x2, i) => ((x2 - m) / Math.sqrt(v + eps)) * w[i] + b[i]);
  });
function attention(q: Mat, k: Mat, v: Mat, heads: number): Mat {
  const c = q[0].length;
  const d = c / heads;
  return q.map((qi) => {
    const out = new Array(c).fill(0);
    for (let h = 0; h < heads; h++) {
      const s = k.map((kj) => {
        let dot = 0;
        for (let e = 0; e < d; e++) dot += qi[h * d + e] * kj[h * d + e];
        return dot / Math.sqrt(d);
      });
      const mx = Math.max(...s);
      const p = s.map((x) => Math.exp(x - mx));
      const z = p.reduce((a, x) => a + x, 0);
      v.forEach((vj, j) => {
        for (let e = 0; e < d; e++) out[h * d + e] += (p[j] / z) * vj[h * d + e];
      });
    }
    return out;
  });
}
const add = (a: Mat, b: Mat, s = 1): Mat => a.map((r, i) => r.map((x, j) => x + s * b[i][j]));
const maxDiff = (a: ArrayLike<number>, b: number[]) => {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('CLIP vision encoder graph', () => {
  const cfg: ClipVisionConfig = {
    hiddenSize: 16,
    intermediateSize: 24,
    numLayers: 2,
    numHeads: 2,
    patchSize: 4,
    imageSize: 8,
    projectionDim: 12,
    layerNormEps: 1e-5,
    hiddenAct: 'quick_gelu',
  };
  const H = cfg.hiddenSize;
  const shapes: [string, number[], number?][] = [
    ['vision_model.embeddings.patch_embedding.weight', [H, 3, 4, 4], 0.2],
    ['vision_model.embeddings.class_embedding', [H]],
    ['vision_model.embeddings.position_embedding.weight', [5, H]],
    ['vision_model.pre_layrnorm.weight', [H], 0.1],
    ['vision_model.pre_layrnorm.bias', [H], 0.1],
    ['vision_model.post_layernorm.weight', [H], 0.1],
    ['vision_model.post_layernorm.bias', [H], 0.1],
    ['visual_projection.weight', [12, H]],
  ];
  for (let l = 0; l < 2; l++) {
    const L = `vision_model.encoder.layers.${l}`;
    for (const n of ['layer_norm1', 'layer_norm2'])
      shapes.push([`${L}.${n}.weight`, [H], 0.1], [`${L}.${n}.bias`, [H], 0.1]);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj'])
      shapes.push([`${L}.self_attn.${n}.weight`, [H, H]], [`${L}.self_attn.${n}.bias`, [H], 0.1]);
    shapes.push([`${L}.mlp.fc1.weight`, [24, H]], [`${L}.mlp.fc1.bias`, [24], 0.1]);
    shapes.push([`${L}.mlp.fc2.weight`, [H, 24]], [`${L}.mlp.fc2.bias`, [H], 0.1]);
  }
  const src = new MemorySource(shapes, 11);

  function reference(img: Float32Array): { embeds: number[]; penultimate: Mat } {
    const w = src.get('vision_model.embeddings.patch_embedding.weight');
    const tokens: Mat = [Array.from(src.get('vision_model.embeddings.class_embedding'))];
    for (let py = 0; py < 2; py++)
      for (let px = 0; px < 2; px++)
        tokens.push(
          Array.from({ length: H }, (_, h) => {
            let s = 0;
            for (let c = 0; c < 3; c++)
              for (let ky = 0; ky < 4; ky++)
                for (let kx = 0; kx < 4; kx++)
                  s += w[((h * 3 + c) * 4 + ky) * 4 + kx] * img[(c * 8 + py * 4 + ky) * 8 + px * 4 + kx];
            return s;
          }),
        );
    const pos = src.get('vision_model.embeddings.position_embedding.weight');
    let h = tokens.map((r, i) => r.map((x, j) => x + pos[i * H + j]));
    h = layerNorm(h, src.get('vision_model.pre_layrnorm.weight'), src.get('vision_model.pre_layrnorm.bias'));
    let penultimate = h;
    for (let l = 0; l < 2; l++) {
      if (l === 1) penultimate = h;
      const L = `vision_model.encoder.layers.${l}`;
      const p = (n: string) => src.get(`${L}.${n}`);
      const x = layerNorm(h, p('layer_norm1.weight'), p('layer_norm1.bias'));
      const proj = (n: string) => linear(x, p(`self_attn.${n}.weight`), p(`self_attn.${n}.bias`), H);
      const a = attention(proj('q_proj'), proj('k_proj'), proj('v_proj'), 2);
      h = add(h, linear(a, p('self_attn.out_proj.weight'), p('self_attn.out_proj.bias'), H));
      const y = linear(
        layerNorm(h, p('layer_norm2.weight'), p('layer_norm2.bias')),
        p('mlp.fc1.weight'),
        p('mlp.fc1.bias'),
        24,
      );
      const act = y.map((r) => r.map((v) => v / (1 + Math.exp(-1.702 * v))));
      h = add(h, linear(act, p('mlp.fc2.weight'), p('mlp.fc2.bias'), H));
    }
    const pooled = layerNorm(
      [h[0]],
      src.get('vision_model.post_layernorm.weight'),
      src.get('vision_model.post_layernorm.bias'),
    );
    return { embeds: linear(pooled, src.get('visual_projection.weight'), undefined, 12)[0], penultimate };
  }

  it('matches the reference for a batch of two images (class token broadcast per image)', async () => {
    const r = rng(5);
    const px = Float32Array.from({ length: 2 * 3 * 64 }, () => r());
    const out = await run(buildClipVisionGraph(src, cfg), { pixel_values: { data: px, dims: [2, 3, 8, 8] } });
    assert.deepEqual(out.image_embeds.dims, [2, 12]);
    assert.deepEqual(out.penultimate_hidden_state.dims, [2, 5, H]);
    for (let b = 0; b < 2; b++) {
      const ref = reference(px.subarray(b * 192, (b + 1) * 192));
      const e = maxDiff(out.image_embeds.data.subarray(b * 12, (b + 1) * 12), ref.embeds);
      const p = maxDiff(
        out.penultimate_hidden_state.data.subarray(b * 5 * H, (b + 1) * 5 * H),
        ref.penultimate.flat(),
      );
      assert.ok(e < 1e-4 && p < 1e-4, `image ${b}: embeds ${e}, penultimate ${p}`);
    }
  });

  it('detects sizes from shapes (activation and heads are not visible)', () => {
    const d = detectClipVisionConfig(src);
    assert.deepEqual({ ...d, numHeads: 2, hiddenAct: 'quick_gelu' }, cfg);
  });

  it('CLIP pixel values: shortest side to S, centre crop, mean/std normalisation', () => {
    const img = { data: new Float32Array(4 * 6 * 3).fill(0.5), dims: [1, 4, 6, 3] };
    const px = clipPixelValues(img, 2);
    assert.deepEqual(px.dims, [1, 3, 2, 2]);
    assert.ok(Math.abs(px.data[0] - (0.5 - 0.48145466) / 0.26862954) < 1e-6);
  });
});

describe('IP-Adapter projection and decoupled cross-attention', () => {
  const C = 16; // UNet attention width
  const X = 8; // cross-attention (text) width
  const D = 12; // CLIP image embedding
  const T = 4; // image tokens
  const attn = 'down_blocks.0.attentions.0.transformer_blocks.0.attn2';
  const ip = 'ip_adapter.1';
  const src = new MemorySource(
    [
      ['image_proj.proj.weight', [T * X, D]],
      ['image_proj.proj.bias', [T * X], 0.1],
      ['image_proj.norm.weight', [X], 0.1],
      ['image_proj.norm.bias', [X], 0.1],
      [`${attn}.to_q.weight`, [C, C]],
      [`${attn}.to_k.weight`, [C, X]],
      [`${attn}.to_v.weight`, [C, X]],
      [`${attn}.to_out.0.weight`, [C, C]],
      [`${attn}.to_out.0.bias`, [C], 0.1],
      [`${ip}.to_k_ip.weight`, [C, X]],
      [`${ip}.to_v_ip.weight`, [C, X]],
    ],
    23,
  );
  const adapter = {
    projection: 'linear' as const,
    clipEmbeddingDim: D,
    crossAttentionDim: X,
    numTokens: T,
    layers: [1],
    lora: false,
  };

  function reference(x: Mat, ctx: Mat, emb: number[], scale: number) {
    const proj = linear([emb], src.get('image_proj.proj.weight'), src.get('image_proj.proj.bias'), T * X)[0];
    const tokens = layerNorm(
      Array.from({ length: T }, (_, t) => proj.slice(t * X, (t + 1) * X)),
      src.get('image_proj.norm.weight'),
      src.get('image_proj.norm.bias'),
    );
    const q = linear(x, src.get(`${attn}.to_q.weight`), undefined, C);
    const text = attention(
      q,
      linear(ctx, src.get(`${attn}.to_k.weight`), undefined, C),
      linear(ctx, src.get(`${attn}.to_v.weight`), undefined, C),
      2,
    );
    const img = attention(
      q,
      linear(tokens, src.get(`${ip}.to_k_ip.weight`), undefined, C),
      linear(tokens, src.get(`${ip}.to_v_ip.weight`), undefined, C),
      2,
    );
    return {
      tokens,
      out: linear(
        add(text, img, scale),
        src.get(`${attn}.to_out.0.weight`),
        src.get(`${attn}.to_out.0.bias`),
        C,
      ),
    };
  }

  it('matches the reference; scale 0 is plain text cross-attention', async () => {
    const r = rng(9);
    const B = 2;
    const x = Float32Array.from({ length: B * 6 * C }, () => r());
    const ctx = Float32Array.from({ length: B * 5 * X }, () => r());
    const emb = Float32Array.from({ length: B * D }, () => r());
    const g = () => buildIpAttentionGraph(src, adapter, attn, ip, 2);
    for (const scale of [0.7, 0]) {
      const out = await run(g(), {
        hidden_states: { data: x, dims: [B, 6, C] },
        encoder_hidden_states: { data: ctx, dims: [B, 5, X] },
        image_embeds: { data: emb, dims: [B, D] },
        ip_scale: { data: Float32Array.of(scale), dims: [1] },
      });
      for (let b = 0; b < B; b++) {
        const rows = (a: Float32Array, n: number, w: number) =>
          Array.from({ length: n }, (_, i) => Array.from(a.subarray((b * n + i) * w, (b * n + i + 1) * w)));
        const ref = reference(
          rows(x, 6, C),
          rows(ctx, 5, X),
          Array.from(emb.subarray(b * D, (b + 1) * D)),
          scale,
        );
        const d = maxDiff(out.attention_output.data.subarray(b * 6 * C, (b + 1) * 6 * C), ref.out.flat());
        const t = maxDiff(out.image_tokens.data.subarray(b * T * X, (b + 1) * T * X), ref.tokens.flat());
        assert.ok(d < 1e-4 && t < 1e-4, `scale ${scale}, image ${b}: output ${d}, tokens ${t}`);
      }
    }
  });

  it('reads the adapter layout and maps its layers onto SD 1.5 cross-attentions', () => {
    assert.deepEqual(detectIpAdapterConfig(src), adapter);
    const order = unetAttentionOrder(SD15_UNET);
    assert.equal(order.length, 32);
    const sd15 = {
      ...adapter,
      crossAttentionDim: 768,
      layers: Array.from({ length: 16 }, (_, i) => 2 * i + 1),
    };
    const map = ipAdapterLayerMap(SD15_UNET, sd15);
    assert.equal(map.size, 16);
    assert.equal(map.get('down_blocks.0.attentions.0.transformer_blocks.0.attn2'), 'ip_adapter.1');
    assert.equal(map.get('up_blocks.1.attentions.0.transformer_blocks.0.attn2'), 'ip_adapter.13');
    assert.equal(map.get('mid_block.attentions.0.transformer_blocks.0.attn2'), 'ip_adapter.31');
    assert.throws(() => ipAdapterLayerMap(SD15_UNET, { ...sd15, layers: [1, 3] }), /do not match/);
    const faceIdPlus = new MemorySource([['image_proj.perceiver_resampler.proj_in.weight', [X, X]]], 1);
    assert.throws(() => detectIpAdapterConfig(faceIdPlus), /FaceID Plus/);
  });
});

// erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7) for the exact GELU of the reference
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
const gelu = (x: Mat): Mat => x.map((r) => r.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))));

describe('IP-Adapter Plus resampler and FaceID projection', () => {
  const H = 24; // CLIP hidden size
  const dim = 32;
  const inner = 128; // 2 heads of 64
  const Q = 3;
  const X = 20; // cross-attention width
  const T = 5; // CLIP tokens
  const specs: [string, number[], number?][] = [
    ['image_proj.latents', [1, Q, dim], 0.5],
    ['image_proj.proj_in.weight', [dim, H]],
    ['image_proj.proj_in.bias', [dim], 0.1],
    ['image_proj.proj_out.weight', [X, dim]],
    ['image_proj.proj_out.bias', [X], 0.1],
    ['image_proj.norm_out.weight', [X], 0.1],
    ['image_proj.norm_out.bias', [X], 0.1],
    ['ip_adapter.1.to_k_ip.weight', [8, X]],
  ];
  for (let i = 0; i < 2; i++) {
    const A = `image_proj.layers.${i}.0`;
    const F = `image_proj.layers.${i}.1`;
    specs.push(
      [`${A}.norm1.weight`, [dim], 0.1],
      [`${A}.norm1.bias`, [dim], 0.1],
      [`${A}.norm2.weight`, [dim], 0.1],
      [`${A}.norm2.bias`, [dim], 0.1],
      [`${A}.to_q.weight`, [inner, dim]],
      [`${A}.to_kv.weight`, [2 * inner, dim]],
      [`${A}.to_out.weight`, [dim, inner]],
      [`${F}.0.weight`, [dim], 0.1],
      [`${F}.0.bias`, [dim], 0.1],
      [`${F}.1.weight`, [4 * dim, dim]],
      [`${F}.3.weight`, [dim, 4 * dim]],
    );
  }
  const src = new MemorySource(specs, 41);

  function resampler(x: Mat): Mat {
    const g = (n: string) => src.get(`image_proj.${n}`);
    const xp = linear(x, g('proj_in.weight'), g('proj_in.bias'), dim);
    const lat0 = g('latents');
    let lat: Mat = Array.from({ length: Q }, (_, q) => Array.from(lat0.subarray(q * dim, (q + 1) * dim)));
    for (let i = 0; i < 2; i++) {
      const A = `layers.${i}.0`;
      const F = `layers.${i}.1`;
      const xn = layerNorm(xp, g(`${A}.norm1.weight`), g(`${A}.norm1.bias`));
      const ln = layerNorm(lat, g(`${A}.norm2.weight`), g(`${A}.norm2.bias`));
      const q = linear(ln, g(`${A}.to_q.weight`), undefined, inner);
      const kv = linear([...xn, ...ln], g(`${A}.to_kv.weight`), undefined, 2 * inner);
      const a = attention(
        q,
        kv.map((r) => r.slice(0, inner)),
        kv.map((r) => r.slice(inner)),
        2,
      );
      lat = add(linear(a, g(`${A}.to_out.weight`), undefined, dim), lat);
      const ff = linear(
        gelu(
          linear(
            layerNorm(lat, g(`${F}.0.weight`), g(`${F}.0.bias`)),
            g(`${F}.1.weight`),
            undefined,
            4 * dim,
          ),
        ),
        g(`${F}.3.weight`),
        undefined,
        dim,
      );
      lat = add(ff, lat);
    }
    return layerNorm(
      linear(lat, g('proj_out.weight'), g('proj_out.bias'), X),
      g('norm_out.weight'),
      g('norm_out.bias'),
    );
  }

  it('detects the Plus layout and matches the float64 resampler for a batch of two', async () => {
    const cfg = detectIpAdapterConfig(src);
    assert.equal(cfg.projection, 'resampler');
    assert.deepEqual(cfg.resampler, { dim, depth: 2, heads: 2, headDim: 64 });
    assert.equal(cfg.numTokens, Q);
    assert.equal(cfg.clipEmbeddingDim, H);
    const r = rng(5);
    const x = Float32Array.from({ length: 2 * T * H }, () => r());
    const out = await run(buildIpProjectionGraph(src, cfg), { embeds: { data: x, dims: [2, T, H] } });
    assert.deepEqual(out.ip_tokens.dims, [2, Q, X]);
    for (let b = 0; b < 2; b++) {
      const rows = Array.from({ length: T }, (_, t) =>
        Array.from(x.subarray((b * T + t) * H, (b * T + t + 1) * H)),
      );
      const d = maxDiff(out.ip_tokens.data.subarray(b * Q * X, (b + 1) * Q * X), resampler(rows).flat());
      assert.ok(d < 1e-4, `image ${b}: max |diff| ${d}`);
    }
  });

  it('FaceID MLP projection: Linear, GELU, Linear, reshape, LayerNorm', async () => {
    const D = 16;
    const face = new MemorySource(
      [
        ['image_proj.proj.0.weight', [2 * X, D]],
        ['image_proj.proj.0.bias', [2 * X], 0.1],
        ['image_proj.proj.2.weight', [4 * X, 2 * X]],
        ['image_proj.proj.2.bias', [4 * X], 0.1],
        ['image_proj.norm.weight', [X], 0.1],
        ['image_proj.norm.bias', [X], 0.1],
        ['ip_adapter.1.to_k_ip.weight', [8, X]],
        ['ip_adapter.0.to_q_lora.down.weight', [2, 8]],
      ],
      43,
    );
    const cfg = detectIpAdapterConfig(face);
    assert.equal(cfg.projection, 'faceid-mlp');
    assert.equal(cfg.numTokens, 4);
    assert.equal(cfg.lora, true);
    const r = rng(6);
    const e = Float32Array.from({ length: D }, () => r());
    const out = await run(buildIpProjectionGraph(face, cfg), { embeds: { data: e, dims: [1, D] } });
    const f = (n: string) => face.get(`image_proj.${n}`);
    const h = linear(
      gelu(linear([Array.from(e)], f('proj.0.weight'), f('proj.0.bias'), 2 * X)),
      f('proj.2.weight'),
      f('proj.2.bias'),
      4 * X,
    )[0];
    const ref = layerNorm(
      Array.from({ length: 4 }, (_, t) => h.slice(t * X, (t + 1) * X)),
      f('norm.weight'),
      f('norm.bias'),
    );
    const d = maxDiff(out.ip_tokens.data, ref.flat());
    assert.ok(d < 1e-4, `max |diff| ${d}`);
  });
});
