// Tiny random-weight IP-Adapter installs for tests: a CLIPVisionModelWithProjection folder and the three adapter
// layouts (ip-adapter_sd15: linear projection; Plus / composition: Perceiver resampler; FaceID: MLP + LoRA), with
// the tensor names and shapes of the published files, sized for a given UNet (the tiny fixture model's).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors } from '../../src/engine/checkpoint/safetensors.ts';
import { IP_ADAPTER_FILES, imageEncoderDir, ipAdapterDir } from '../../src/engine/conditioning.ts';
import { unetAttentionOrder } from '../../src/engine/models/ip-adapter.ts';
import { type UnetConfig, unetTensorShapes } from '../../src/engine/models/unet.ts';

type Spec = [string, number[], number?];

function gauss(seed: number) {
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

function write(path: string, specs: Spec[], seed: number): void {
  const r = gauss(seed);
  writeSafetensors(
    path,
    specs.map(([name, shape, std = 0.2]) => {
      const n = shape.reduce((a, d) => a * d, 1);
      const norm = /(norm[^.]*|layrnorm|layer_norm\d|\.1\.0)\.weight$/.test(name);
      return {
        name,
        dtype: 'F32' as const,
        shape,
        data: Float32Array.from({ length: n }, () => (norm ? 1 : 0) + std * r()),
      };
    }),
  );
}

export const TINY_VISION = {
  hidden: 32,
  intermediate: 64,
  layers: 2,
  heads: 2,
  patch: 8,
  image: 32,
  projection: 24,
};

/** `<modelsDir>/ip-adapter/image_encoder/` (config.json + model.safetensors). */
export function writeTinyImageEncoder(modelsDir: string, seed = 1): void {
  const v = TINY_VISION;
  const dir = imageEncoderDir(modelsDir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      hidden_size: v.hidden,
      intermediate_size: v.intermediate,
      num_hidden_layers: v.layers,
      num_attention_heads: v.heads,
      patch_size: v.patch,
      image_size: v.image,
      projection_dim: v.projection,
      hidden_act: 'gelu',
      layer_norm_eps: 1e-5,
    }),
  );
  const H = v.hidden;
  const P = 'vision_model.';
  const specs: Spec[] = [
    [`${P}embeddings.patch_embedding.weight`, [H, 3, v.patch, v.patch], 0.1],
    [`${P}embeddings.class_embedding`, [H]],
    [`${P}embeddings.position_embedding.weight`, [(v.image / v.patch) ** 2 + 1, H]],
    [`${P}pre_layrnorm.weight`, [H], 0.05],
    [`${P}pre_layrnorm.bias`, [H], 0.05],
  ];
  for (let i = 0; i < v.layers; i++) {
    const L = `${P}encoder.layers.${i}`;
    for (const n of ['layer_norm1', 'layer_norm2'])
      specs.push([`${L}.${n}.weight`, [H], 0.05], [`${L}.${n}.bias`, [H], 0.05]);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj'])
      specs.push([`${L}.self_attn.${n}.weight`, [H, H]], [`${L}.self_attn.${n}.bias`, [H], 0.05]);
    specs.push([`${L}.mlp.fc1.weight`, [v.intermediate, H]], [`${L}.mlp.fc1.bias`, [v.intermediate], 0.05]);
    specs.push([`${L}.mlp.fc2.weight`, [H, v.intermediate]], [`${L}.mlp.fc2.bias`, [H], 0.05]);
  }
  specs.push(
    [`${P}post_layernorm.weight`, [H], 0.05],
    [`${P}post_layernorm.bias`, [H], 0.05],
    ['visual_projection.weight', [v.projection, H]],
  );
  write(join(dir, 'model.safetensors'), specs, seed);
}

/** to_k_ip / to_v_ip for every cross-attention of `unet` (and FaceID's LoRA on every attention). */
function attentionSpecs(unet: UnetConfig, lora: boolean): Spec[] {
  const shapes = unetTensorShapes(unet);
  const specs: Spec[] = [];
  unetAttentionOrder(unet).forEach((attn, n) => {
    const p = `ip_adapter.${n}`;
    const inner = (shapes.get(`${attn}.to_q.weight`) as number[])[0];
    if (attn.endsWith('.attn2'))
      specs.push(
        [`${p}.to_k_ip.weight`, [inner, unet.crossAttentionDim]],
        [`${p}.to_v_ip.weight`, [inner, unet.crossAttentionDim]],
      );
    if (lora) {
      const rank = 4;
      for (const t of ['q', 'k', 'v', 'out']) {
        const [out, inp] = shapes.get(`${attn}.${t === 'out' ? 'to_out.0' : `to_${t}`}.weight`) as number[];
        specs.push(
          [`${p}.to_${t}_lora.down.weight`, [rank, inp], 0.1],
          [`${p}.to_${t}_lora.up.weight`, [out, rank], 0.1],
        );
      }
    }
  });
  return specs;
}

export type TinyAdapterKind = 'ipadapter' | 'reference' | 'composition' | 'faceid';

/** Writes the adapter file of `kind` where conditioning.ts looks for it; returns its path. */
export function writeTinyAdapter(
  modelsDir: string,
  kind: TinyAdapterKind,
  unet: UnetConfig,
  seed = 3,
): string {
  const X = unet.crossAttentionDim;
  const v = TINY_VISION;
  const specs: Spec[] = [];
  if (kind === 'ipadapter') {
    specs.push(
      ['image_proj.proj.weight', [4 * X, v.projection]],
      ['image_proj.proj.bias', [4 * X], 0.05],
      ['image_proj.norm.weight', [X], 0.05],
      ['image_proj.norm.bias', [X], 0.05],
    );
  } else if (kind === 'faceid') {
    specs.push(
      ['image_proj.proj.0.weight', [2 * X, 512], 0.1],
      ['image_proj.proj.0.bias', [2 * X], 0.05],
      ['image_proj.proj.2.weight', [4 * X, 2 * X]],
      ['image_proj.proj.2.bias', [4 * X], 0.05],
      ['image_proj.norm.weight', [X], 0.05],
      ['image_proj.norm.bias', [X], 0.05],
    );
  } else {
    const dim = 64; // one head of 64
    specs.push(
      ['image_proj.latents', [1, 16, dim], 0.5],
      ['image_proj.proj_in.weight', [dim, v.hidden]],
      ['image_proj.proj_in.bias', [dim], 0.05],
      ['image_proj.proj_out.weight', [X, dim]],
      ['image_proj.proj_out.bias', [X], 0.05],
      ['image_proj.norm_out.weight', [X], 0.05],
      ['image_proj.norm_out.bias', [X], 0.05],
    );
    for (let i = 0; i < 2; i++) {
      const A = `image_proj.layers.${i}.0`;
      const F = `image_proj.layers.${i}.1`;
      specs.push(
        [`${A}.norm1.weight`, [dim], 0.05],
        [`${A}.norm1.bias`, [dim], 0.05],
        [`${A}.norm2.weight`, [dim], 0.05],
        [`${A}.norm2.bias`, [dim], 0.05],
        [`${A}.to_q.weight`, [64, dim], 0.1],
        [`${A}.to_kv.weight`, [128, dim], 0.1],
        [`${A}.to_out.weight`, [dim, 64], 0.1],
        [`${F}.0.weight`, [dim], 0.05],
        [`${F}.0.bias`, [dim], 0.05],
        [`${F}.1.weight`, [4 * dim, dim], 0.1],
        [`${F}.3.weight`, [dim, 4 * dim], 0.1],
      );
    }
  }
  specs.push(...attentionSpecs(unet, kind === 'faceid'));
  mkdirSync(ipAdapterDir(modelsDir), { recursive: true });
  const path = join(ipAdapterDir(modelsDir), IP_ADAPTER_FILES[kind].file);
  write(path, specs, seed + kind.length);
  return path;
}
