// Network preprocessors (depth, hed, lineart, pose, segroom) run an operator-installed ONNX "annotator":
// no npm package ships such weights (docs/conditioning.md), so the operator exports one and installs it as
// `<modelsDir>/controlnet/<type>/annotator.onnx`, with an optional `annotator.json` beside it.
//
// Contract (the same for every type, so one runner serves them all):
//  - input: the graph's first input, float32 NCHW [1, 3, H, W], RGB in [0, 1]; fed at the request size, or at
//    `inputSize` x `inputSize` when annotator.json names one (graphs with fixed input dims);
//  - output: the graph's first output, float32 [1, C, h, w], [1, h, w] or [h, w] with C = 1 or 3 (a depth /
//    edge / line map, or an already rendered pose skeleton or segmentation palette image);
//  - the map is normalised (`normalize`: "minmax" rescales to [0, 1], the default for depth, whose networks
//    give unnormalised relative inverse depth; "clamp" clips to [0, 1], the default otherwise), optionally
//    inverted (`invert`), resized bilinearly to the request size and made 3-channel.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../components.ts';
import { OrtSession, type SessionSettings } from '../ort.ts';
import { assertImage, resizeBilinear } from './image-ops.ts';

export const ANNOTATOR_FILE = 'annotator.onnx';
export const ANNOTATOR_CONFIG = 'annotator.json';

export interface AnnotatorConfig {
  inputSize?: number;
  normalize?: 'minmax' | 'clamp';
  invert?: boolean;
}

export function readAnnotatorConfig(dir: string): AnnotatorConfig {
  const p = join(dir, ANNOTATOR_CONFIG);
  if (!existsSync(p)) return {};
  const j = JSON.parse(readFileSync(p, 'utf8')) as AnnotatorConfig;
  if (j.normalize !== undefined && j.normalize !== 'minmax' && j.normalize !== 'clamp')
    throw new Error(`${p}: normalize must be "minmax" or "clamp"`);
  if (j.inputSize !== undefined && !(Number.isInteger(j.inputSize) && j.inputSize > 0))
    throw new Error(`${p}: inputSize must be a positive integer`);
  return j;
}

/** NHWC [1, H, W, 3] -> NCHW [1, 3, H, W] */
function toNchw(img: Tensor): Tensor {
  const { height: h, width: w, channels: c } = assertImage(img);
  const out = new Float32Array(img.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = img.data[(y * w + x) * c + ch];
  return { data: out, dims: [1, c, h, w] };
}

/** An annotator output map -> NHWC [1, h, w, 3] in [0, 1]. */
export function annotatorMapToImage(
  out: Tensor,
  cfg: AnnotatorConfig,
  defaultNormalize: 'minmax' | 'clamp',
): Tensor {
  const dims =
    out.dims.length === 2 ? [1, 1, ...out.dims] : out.dims.length === 3 ? [1, ...out.dims] : out.dims;
  const [b, c, h, w] = dims;
  if (dims.length !== 4 || b !== 1 || (c !== 1 && c !== 3))
    throw new Error(`annotator output must be [1, 1|3, h, w], got [${out.dims.join(',')}]`);
  let lo = 0;
  let hi = 1;
  if ((cfg.normalize ?? defaultNormalize) === 'minmax') {
    lo = Number.POSITIVE_INFINITY;
    hi = Number.NEGATIVE_INFINITY;
    for (const v of out.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(hi > lo)) hi = lo + 1; // a constant map becomes 0
  }
  const img = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < 3; ch++) {
        const v = out.data[((c === 3 ? ch : 0) * h + y) * w + x];
        let n = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
        if (cfg.invert) n = 1 - n;
        img[(y * w + x) * 3 + ch] = n;
      }
  return { data: img, dims: [1, h, w, 3] };
}

/** An installed annotator with its session open (ModelManager keeps one with a controlled model). */
export class Annotator {
  private constructor(
    readonly dir: string,
    private readonly cfg: AnnotatorConfig,
    private readonly session: OrtSession,
  ) {}

  /** Reads annotator.json (checked) and opens annotator.onnx. */
  static async open(dir: string, session?: SessionSettings): Promise<Annotator> {
    const cfg = readAnnotatorConfig(dir);
    return new Annotator(dir, cfg, await OrtSession.create(join(dir, ANNOTATOR_FILE), session));
  }

  /** The control image for an NHWC image, at the same size. */
  async run(img: Tensor, defaultNormalize: 'minmax' | 'clamp'): Promise<Tensor> {
    const { height, width } = assertImage(img);
    const s = this.session;
    const input = this.cfg.inputSize ? resizeBilinear(img, this.cfg.inputSize, this.cfg.inputSize) : img;
    const out = await s.run({ [s.inputNames[0]]: toNchw(input) });
    const map = annotatorMapToImage(out[s.outputNames[0]], this.cfg, defaultNormalize);
    const [, h, w] = map.dims;
    return h === height && w === width ? map : resizeBilinear(map, width, height);
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}

/** Runs an installed annotator once on an NHWC image (opens and closes its session). */
export async function runAnnotator(
  dir: string,
  img: Tensor,
  defaultNormalize: 'minmax' | 'clamp',
  session?: SessionSettings,
): Promise<Tensor> {
  assertImage(img);
  const a = await Annotator.open(dir, session);
  try {
    return await a.run(img, defaultNormalize);
  } finally {
    await a.dispose();
  }
}
