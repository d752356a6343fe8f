// IP-Adapter graph pieces (Ye et al. 2023, "IP-Adapter: Text Compatible Image Prompt Adapter for
// Text-to-Image Diffusion Models"): a CLIP vision encoder gives an image embedding; a projection turns it into
// a few "image tokens" in the UNet's cross-attention width; every UNet cross-attention (attn2) gets a second,
// decoupled key/value projection of those tokens, and its output becomes
//   to_out( softmax(q k_text^T / sqrt d) v_text + scale * softmax(q k_ip^T / sqrt d) v_ip ).
// Ref: https://github.com/huggingface/transformers/blob/v4.30.0/src/transformers/models/clip/modeling_clip.py
// (CLIPVisionModelWithProjection), https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/models/attention_processor.py
// (IPAdapterAttnProcessor), https://github.com/huggingface/diffusers/blob/v0.27.2/src/diffusers/models/embeddings.py
// (ImageProjection), https://github.com/tencent-ailab/IP-Adapter (ip-adapter_sd15 checkpoint layout).
//
// The UNet's attn2 calls `decoupledCrossAttention` when built with `ipAdapter` (models/unet.ts); the pipeline
// is pipeline/ip-adapter.ts. Plus / composition adapters use the Perceiver resampler, FaceID an MLP over an
// ArcFace embedding plus a LoRA on every attention (merged like any LoRA).

import type { TensorSource } from '../checkpoint/tensor-source.ts';
import type { Tensor } from '../components.ts';
import { GraphBuilder } from '../graph/builder.ts';
import { Layers } from '../graph/nn.ts';
import { resizeBilinear } from '../preprocess/image-ops.ts';
import type { TensorIndex } from './clip.ts';
import type { UnetConfig } from './unet.ts';

// ---- CLIP vision encoder -------------------------------------------------------------------------------

export interface ClipVisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  patchSize: number;
  imageSize: number;
  projectionDim: number;
  layerNormEps: number;
  hiddenAct: 'gelu' | 'quick_gelu';
}

const V = 'vision_model.';

export function clipVisionConfigFromJson(j: Record<string, unknown>): ClipVisionConfig {
  const act = String(j.hidden_act ?? 'quick_gelu');
  if (act !== 'gelu' && act !== 'quick_gelu')
    throw new Error(`CLIP vision hidden_act ${act} is not supported`);
  return {
    hiddenSize: Number(j.hidden_size),
    intermediateSize: Number(j.intermediate_size),
    numLayers: Number(j.num_hidden_layers),
    numHeads: Number(j.num_attention_heads),
    patchSize: Number(j.patch_size),
    imageSize: Number(j.image_size),
    projectionDim: Number(j.projection_dim),
    layerNormEps: Number(j.layer_norm_eps ?? 1e-5),
    hiddenAct: act,
  };
}

/**
 * From tensor shapes. Not visible: the activation (gelu, as in the OpenCLIP ViT-H/14 every SD 1.5 IP-Adapter
 * uses; OpenAI's ViT-L uses quick_gelu) and the head count (hidden / 64: ViT-H 20, ViT-L 16).
 */
export function detectClipVisionConfig(index: TensorIndex, prefix = ''): ClipVisionConfig {
  const shape = (n: string) => index.shape(`${prefix}${V}${n}`);
  const [hiddenSize, , patchSize] = shape('embeddings.patch_embedding.weight');
  const positions = shape('embeddings.position_embedding.weight')[0];
  let numLayers = 0;
  while (index.has(`${prefix}${V}encoder.layers.${numLayers}.mlp.fc1.weight`)) numLayers++;
  return {
    hiddenSize,
    intermediateSize: shape('encoder.layers.0.mlp.fc1.weight')[0],
    numLayers,
    numHeads: Math.max(1, Math.round(hiddenSize / 64)),
    patchSize,
    imageSize: Math.round(Math.sqrt(positions - 1)) * patchSize,
    projectionDim: index.shape(`${prefix}visual_projection.weight`)[0],
    layerNormEps: 1e-5,
    hiddenAct: 'gelu',
  };
}

/**
 * Input `pixel_values` [B, 3, S, S] (CLIP-normalised). Outputs `image_embeds` [B, projection]
 * (post-LayerNorm class token through visual_projection) and `penultimate_hidden_state` [B, 1 + patches, H]
 * (hidden_states[-2], what IP-Adapter Plus reads).
 */
export function buildClipVisionGraph(src: TensorSource, cfg: ClipVisionConfig): GraphBuilder {
  const g = new GraphBuilder('clip_vision');
  const nn = new Layers(g, src);
  const H = cfg.hiddenSize;
  const px = g.input('pixel_values', ['batch', 3, cfg.imageSize, cfg.imageSize]);
  const patches = g.op('Conv', [px, nn.param(`${V}embeddings.patch_embedding.weight`)], {
    kernel_shape: [cfg.patchSize, cfg.patchSize],
    strides: [cfg.patchSize, cfg.patchSize],
  });
  const tokens = nn.toTokens(patches, H); // [B, P, H]
  // class token broadcast to the batch: zeros of [B, 1, H] + class embedding
  const zeros = g.op('Slice', [
    g.op('Mul', [tokens, g.scalar(0)]),
    g.constInt64([0]),
    g.constInt64([1]),
    g.constInt64([1]),
  ]);
  const cls = g.op('Add', [zeros, nn.param(`${V}embeddings.class_embedding`, [1, 1, H])]);
  let h = g.op('Add', [
    g.op('Concat', [cls, tokens], { axis: 1 }),
    nn.param(`${V}embeddings.position_embedding.weight`),
  ]);
  h = nn.layerNorm(h, `${V}pre_layrnorm`, cfg.layerNormEps); // (sic) transformers' name
  const headDim = H / cfg.numHeads;
  let penultimate = h;
  for (let i = 0; i < cfg.numLayers; i++) {
    if (i === cfg.numLayers - 1) penultimate = h;
    const L = `${V}encoder.layers.${i}`;
    const x = nn.layerNorm(h, `${L}.layer_norm1`, cfg.layerNormEps);
    const attn = nn.attention(
      nn.linear(x, `${L}.self_attn.q_proj`),
      nn.linear(x, `${L}.self_attn.k_proj`),
      nn.linear(x, `${L}.self_attn.v_proj`),
      cfg.numHeads,
      headDim,
      { scaleQuery: true },
    );
    h = g.op('Add', [h, nn.linear(attn, `${L}.self_attn.out_proj`)]);
    const fc1 = nn.linear(nn.layerNorm(h, `${L}.layer_norm2`, cfg.layerNormEps), `${L}.mlp.fc1`);
    h = g.op('Add', [
      h,
      nn.linear(cfg.hiddenAct === 'gelu' ? nn.gelu(fc1) : nn.quickGelu(fc1), `${L}.mlp.fc2`),
    ]);
  }
  const clsOut = g.op('Gather', [h, g.constInt64([0], [])], { axis: 1 }); // [B, H]
  const pooled = nn.layerNorm(clsOut, `${V}post_layernorm`, cfg.layerNormEps);
  g.output('image_embeds', nn.linear(pooled, 'visual_projection'), ['batch', cfg.projectionDim]);
  g.output('penultimate_hidden_state', penultimate, ['batch', 'tokens', H]);
  return g;
}

/** CLIPImageProcessor's normalisation (OpenAI CLIP mean / std). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/**
 * NHWC [1, H, W, 3] in [0, 1] -> CLIP pixel_values [1, 3, S, S]: shortest side resized to S, centre crop,
 * (x - mean) / std. CLIPImageProcessor resizes bicubically; this uses bilinear (small differences at edges).
 */
export function clipPixelValues(img: Tensor, size: number): Tensor {
  const [, h, w] = img.dims;
  const scale = size / Math.min(h, w);
  const rw = Math.max(size, Math.round(w * scale));
  const rh = Math.max(size, Math.round(h * scale));
  const r = resizeBilinear(img, rw, rh);
  const x0 = Math.floor((rw - size) / 2);
  const y0 = Math.floor((rh - size) / 2);
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        out[(c * size + y) * size + x] =
          (r.data[((y + y0) * rw + x + x0) * 3 + c] - CLIP_MEAN[c]) / CLIP_STD[c];
  return { data: out, dims: [1, 3, size, size] };
}

// ---- adapter weights: image projection + per-attn2 key/value ---------------------------------------------

/**
 * How the adapter turns its input embedding into image tokens (the `image_proj.*` tensors):
 * - linear: ImageProjection (ip-adapter_sd15): CLIP image_embeds [B, D] -> Linear -> [B, tokens, cross] -> LN;
 * - resampler: IP-Adapter Plus (ip-adapter-plus_sd15, ip_plus_composition_sd15): a Perceiver resampler over
 *   the CLIP encoder's penultimate hidden states [B, 1 + patches, H] -> learned queries [B, tokens, cross];
 * - faceid-mlp: IP-Adapter FaceID (ip-adapter-faceid_sd15): a 512-d ArcFace embedding -> Linear -> GELU ->
 *   Linear -> [B, tokens, cross] -> LN.
 */
export type IpProjectionKind = 'linear' | 'resampler' | 'faceid-mlp';

export interface ResamplerConfig {
  /** latent width (proj_in output) */
  dim: number;
  depth: number;
  heads: number;
  headDim: number;
}

export interface IpAdapterConfig {
  projection: IpProjectionKind;
  /**
   * width of the embedding the projection reads: CLIP image_embeds (linear), the CLIP hidden size
   * (resampler), the face embedding (faceid-mlp)
   */
  clipEmbeddingDim: number;
  crossAttentionDim: number;
  /** image tokens (ip-adapter_sd15 and FaceID: 4; Plus: 16) */
  numTokens: number;
  /** the processor indices that carry to_k_ip / to_v_ip, ascending (SD 1.5: 1, 3, ..., 31) */
  layers: number[];
  resampler?: ResamplerConfig;
  /** FaceID: `ip_adapter.<n>.to_{q,k,v,out}_lora` on every attention processor, merged into the UNet */
  lora: boolean;
}

/** Resampler attention heads are `inner / RESAMPLER_HEAD_DIM` (IP-Adapter Plus: dim_head 64, 12 heads at 768). */
export const RESAMPLER_HEAD_DIM = 64;

/** From an ip-adapter .safetensors (`image_proj.*`, `ip_adapter.<n>.to_{k,v}_ip.weight`). */
export function detectIpAdapterConfig(index: TensorIndex): IpAdapterConfig {
  if (index.has('image_proj.perceiver_resampler.proj_in.weight'))
    throw new Error('IP-Adapter FaceID Plus (CLIP + face embedding resampler) is not supported');
  const layers = index
    .names()
    .map((n) => /^ip_adapter\.(\d+)\.to_k_ip\.weight$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (!layers.length) throw new Error('not an IP-Adapter: no ip_adapter.<n>.to_k_ip.weight');
  const lora = index.names().some((n) => /^ip_adapter\.\d+\.to_q_lora\.down\.weight$/.test(n));
  if (index.has('image_proj.latents')) {
    const [, numTokens, dim] = index.shape('image_proj.latents');
    let depth = 0;
    while (index.has(`image_proj.layers.${depth}.0.to_q.weight`)) depth++;
    const inner = index.shape('image_proj.layers.0.0.to_q.weight')[0];
    return {
      projection: 'resampler',
      clipEmbeddingDim: index.shape('image_proj.proj_in.weight')[1],
      crossAttentionDim: index.shape('image_proj.proj_out.weight')[0],
      numTokens,
      layers,
      resampler: { dim, depth, heads: inner / RESAMPLER_HEAD_DIM, headDim: RESAMPLER_HEAD_DIM },
      lora,
    };
  }
  const crossAttentionDim = index.shape('image_proj.norm.weight')[0];
  if (index.has('image_proj.proj.0.weight')) {
    const out = index.shape('image_proj.proj.2.weight')[0];
    return {
      projection: 'faceid-mlp',
      clipEmbeddingDim: index.shape('image_proj.proj.0.weight')[1],
      crossAttentionDim,
      numTokens: out / crossAttentionDim,
      layers,
      lora,
    };
  }
  if (!index.has('image_proj.proj.weight')) throw new Error('not an IP-Adapter: no image_proj.proj.weight');
  const [out, clipEmbeddingDim] = index.shape('image_proj.proj.weight');
  return {
    projection: 'linear',
    clipEmbeddingDim,
    crossAttentionDim,
    numTokens: out / crossAttentionDim,
    layers,
    lora,
  };
}

/**
 * The UNet's attention modules in diffusers' `attn_processors` order (module registration order: down
 * blocks, up blocks, then the mid block; attn1 before attn2 in each transformer block). IP-Adapter numbers
 * its layers by this order, so the cross-attentions (attn2) are the odd indices.
 */
export function unetAttentionOrder(cfg: UnetConfig): string[] {
  const out: string[] = [];
  const transformer = (p: string) => {
    for (let b = 0; b < cfg.transformerLayersPerBlock; b++)
      out.push(`${p}.transformer_blocks.${b}.attn1`, `${p}.transformer_blocks.${b}.attn2`);
  };
  cfg.downBlockTypes.forEach((t, i) => {
    if (t === 'CrossAttnDownBlock2D')
      for (let j = 0; j < cfg.layersPerBlock; j++) transformer(`down_blocks.${i}.attentions.${j}`);
  });
  cfg.upBlockTypes.forEach((t, i) => {
    if (t === 'CrossAttnUpBlock2D')
      for (let j = 0; j <= cfg.layersPerBlock; j++) transformer(`up_blocks.${i}.attentions.${j}`);
  });
  transformer('mid_block.attentions.0');
  return out;
}

/** Every attn2 module path of a UNet -> its `ip_adapter.<n>` prefix (n = its index in unetAttentionOrder). */
export function attn2IpPrefixes(cfg: UnetConfig): Map<string, string> {
  const map = new Map<string, string>();
  unetAttentionOrder(cfg).forEach((name, i) => {
    if (name.endsWith('.attn2')) map.set(name, `ip_adapter.${i}`);
  });
  return map;
}

/** attn2 module path -> its `ip_adapter.<n>` prefix, for a UNet and an adapter; fails when they do not match. */
export function ipAdapterLayerMap(unet: UnetConfig, adapter: IpAdapterConfig): Map<string, string> {
  const map = attn2IpPrefixes(unet);
  const want = [...map.values()].map((p) => Number(p.split('.')[1]));
  if (want.join(',') !== adapter.layers.join(','))
    throw new Error(
      `IP-Adapter layers [${adapter.layers.join(',')}] do not match this UNet's cross-attentions [${want.join(',')}]`,
    );
  if (adapter.crossAttentionDim !== unet.crossAttentionDim)
    throw new Error(
      `IP-Adapter width ${adapter.crossAttentionDim} != UNet cross-attention ${unet.crossAttentionDim}`,
    );
  return map;
}

/** ImageProjection: image_embeds [B, D] -> LayerNorm(reshape(proj(x), [B, tokens, cross])). */
export function imageProjection(nn: Layers, imageEmbeds: string, cfg: IpAdapterConfig): string {
  const g = nn.g;
  const tokens = g.op('Reshape', [
    nn.linear(imageEmbeds, 'image_proj.proj'),
    g.constInt64([0, cfg.numTokens, cfg.crossAttentionDim]),
  ]);
  return nn.layerNorm(tokens, 'image_proj.norm', 1e-5);
}

/**
 * FaceID's MLPProjModel: face embedding [B, 512] -> proj.0 -> GELU (erf) -> proj.2 -> [B, tokens, cross] -> LN.
 * Ref: tencent-ailab/IP-Adapter ip_adapter/ip_adapter_faceid.py (MLPProjModel).
 */
export function faceIdProjection(nn: Layers, faceEmbeds: string, cfg: IpAdapterConfig): string {
  const g = nn.g;
  const hidden = nn.gelu(nn.linear(faceEmbeds, 'image_proj.proj.0'));
  const tokens = g.op('Reshape', [
    nn.linear(hidden, 'image_proj.proj.2'),
    g.constInt64([0, cfg.numTokens, cfg.crossAttentionDim]),
  ]);
  return nn.layerNorm(tokens, 'image_proj.norm', 1e-5);
}

/**
 * IP-Adapter Plus's Perceiver resampler (Alayrac et al. 2022 "Flamingo"; tencent-ailab/IP-Adapter
 * ip_adapter/resampler.py, diffusers IPAdapterPlusImageProjection): hidden states [B, T, H] -> proj_in ->
 * per layer `latents += PerceiverAttention(x, latents)` (LN(x) and LN(latents) as keys/values, LN(latents)
 * as queries; the q·s, k·s with s = d^-1/4 scaling equals the usual 1/sqrt(d)) and `latents += FF(latents)`
 * (LN, Linear ×mult, GELU, Linear; no biases) -> proj_out -> norm_out. The learned `latents` [1, tokens, dim]
 * are broadcast to the batch.
 */
export function resamplerProjection(nn: Layers, hidden: string, cfg: IpAdapterConfig): string {
  const g = nn.g;
  const r = cfg.resampler;
  if (!r) throw new Error('resamplerProjection needs a resampler config');
  const P = 'image_proj';
  const x = nn.linear(hidden, `${P}.proj_in`); // [B, T, dim]
  const zeros = g.op('Mul', [
    g.op('Slice', [x, g.constInt64([0]), g.constInt64([1]), g.constInt64([1])]),
    g.scalar(0),
  ]); // [B, 1, dim]
  let latents = g.op('Add', [zeros, nn.param(`${P}.latents`)]); // [B, tokens, dim]
  const inner = r.heads * r.headDim;
  for (let i = 0; i < r.depth; i++) {
    const A = `${P}.layers.${i}.0`;
    const xn = nn.layerNorm(x, `${A}.norm1`, 1e-5);
    const ln = nn.layerNorm(latents, `${A}.norm2`, 1e-5);
    const q = nn.linear(ln, `${A}.to_q`);
    const kv = nn.linear(g.op('Concat', [xn, ln], { axis: 1 }), `${A}.to_kv`);
    const [k, v] = g.opMulti('Split', [kv, g.constInt64([inner, inner])], 2, { axis: -1 });
    const attn = nn.attention(q, k, v, r.heads, r.headDim);
    latents = g.op('Add', [nn.linear(attn, `${A}.to_out`), latents]);
    const F = `${P}.layers.${i}.1`;
    const ff = nn.linear(nn.gelu(nn.linear(nn.layerNorm(latents, `${F}.0`, 1e-5), `${F}.1`)), `${F}.3`);
    latents = g.op('Add', [ff, latents]);
  }
  return nn.layerNorm(nn.linear(latents, `${P}.proj_out`), `${P}.norm_out`, 1e-5);
}

/**
 * The adapter's projection as a graph: input `embeds` (linear: CLIP image_embeds [B, D]; resampler: CLIP
 * penultimate hidden states [B, T, H]; faceid-mlp: face embeddings [B, 512]) -> output `ip_tokens`
 * [B, tokens, cross]. The generator feeds the unconditional embedding through the same graph.
 */
export function buildIpProjectionGraph(src: TensorSource, cfg: IpAdapterConfig): GraphBuilder {
  const g = new GraphBuilder('ip_projection');
  const nn = new Layers(g, src);
  const tokensOut = (t: string) => g.output('ip_tokens', t, ['batch', cfg.numTokens, cfg.crossAttentionDim]);
  if (cfg.projection === 'resampler') {
    const x = g.input('embeds', ['batch', 'tokens', cfg.clipEmbeddingDim]);
    tokensOut(resamplerProjection(nn, x, cfg));
  } else {
    const x = g.input('embeds', ['batch', cfg.clipEmbeddingDim]);
    tokensOut(cfg.projection === 'linear' ? imageProjection(nn, x, cfg) : faceIdProjection(nn, x, cfg));
  }
  return g;
}

/**
 * A UNet cross-attention (attn2 at `attnPrefix`) with IP-Adapter's decoupled image branch: the same query
 * attends to the text (`context`) and, through `<ipPrefix>.to_k_ip` / `.to_v_ip`, to the image tokens; the
 * image branch is multiplied by `scale` (a graph value) and added before `to_out`. `nn` must read both the
 * UNet's and the adapter's tensors (e.g. a TensorSource over both files).
 */
export function decoupledCrossAttention(
  nn: Layers,
  x: string,
  context: string,
  ipTokens: string,
  attnPrefix: string,
  ipPrefix: string,
  heads: number,
  scale: string,
): string {
  const g = nn.g;
  const inner = nn.shape(`${attnPrefix}.to_q.weight`)[0];
  const headDim = inner / heads;
  const q = nn.linear(x, `${attnPrefix}.to_q`);
  const text = nn.attention(
    q,
    nn.linear(context, `${attnPrefix}.to_k`),
    nn.linear(context, `${attnPrefix}.to_v`),
    heads,
    headDim,
  );
  const image = nn.attention(
    q,
    nn.linear(ipTokens, `${ipPrefix}.to_k_ip`),
    nn.linear(ipTokens, `${ipPrefix}.to_v_ip`),
    heads,
    headDim,
  );
  return nn.linear(g.op('Add', [text, g.op('Mul', [image, scale])]), `${attnPrefix}.to_out.0`);
}

/**
 * A standalone graph of the adapter path for one cross-attention (tests, and a template for the UNet hook):
 * inputs `hidden_states` [B, S, C], `encoder_hidden_states` [B, T, cross], `image_embeds` [B, D],
 * `ip_scale` [1]; outputs `image_tokens` [B, tokens, cross] and `attention_output` [B, S, C].
 */
export function buildIpAttentionGraph(
  src: TensorSource,
  adapter: IpAdapterConfig,
  attnPrefix: string,
  ipPrefix: string,
  heads: number,
): GraphBuilder {
  const g = new GraphBuilder('ip_adapter_attention');
  const nn = new Layers(g, src, { fusedAttention: true });
  const c = src.shape(`${attnPrefix}.to_q.weight`)[1];
  const x = g.input('hidden_states', ['batch', 'seq', c]);
  const ctx = g.input('encoder_hidden_states', ['batch', 'tokens', adapter.crossAttentionDim]);
  const emb = g.input('image_embeds', ['batch', adapter.clipEmbeddingDim]);
  const scale = g.input('ip_scale', [1]);
  const tokens = imageProjection(nn, emb, adapter);
  g.output('image_tokens', tokens, ['batch', adapter.numTokens, adapter.crossAttentionDim]);
  g.output(
    'attention_output',
    decoupledCrossAttention(nn, x, ctx, tokens, attnPrefix, ipPrefix, heads, scale),
    ['batch', 'seq', c],
  );
  return g;
}
