import { GraphBuilder } from '../../engine/graph/builder.ts';
import type { TfjsLayer, TfjsLayersModel } from './weights.ts';

/**
 * Translates a Keras/TF.js convolutional super-resolution network (the RDN / RRDN models of idealo's
 * image-super-resolution as shipped by UpscalerJS) into an ONNX graph, NHWC → NCHW.
 *
 * Graph interface: input `image` [1, 3, H, W] and output `sr` [1, 3, sH, sW], both RGB in 0–1 whatever range
 * the network was trained on (`inputRange`): the scaling is folded into the graph.
 *
 * Layer mapping (TF semantics → ONNX):
 * - Conv2D (channels_last, stride 1, no dilation/groups): kernel [kh, kw, cin, cout] → [cout, cin, kh, kw];
 *   "same" padding is ⌊(k−1)/2⌋ before and ⌈(k−1)/2⌉ after, as TF pads.
 * - Activation relu / linear; Concatenate on the channel axis (3 or −1 in NHWC → 1 in NCHW); Add → Sum.
 * - MultiplyBeta (residual scaling of ESRGAN's RRDB, Wang et al. 2018, arXiv:1809.00219 §3.1): x · β.
 * - PixelShuffle<s>x = tf.depthToSpace(x, s, 'NHWC'); TF's channel order (i·s + j)·C + c is ONNX DepthToSpace's
 *   DCR mode (Shi et al. 2016, arXiv:1609.05158).
 * - UpSampling2D nearest: Resize nearest, asymmetric coordinates, floor (pixel replication).
 *
 * A Conv2D reading a Concatenate is emitted as one Conv per concatenated input, each with its slice of the kernel's
 * input channels, summed: conv(W, [a; b]) = conv(W_a, a) + conv(W_b, b) (convolution is linear in its input). The
 * dense blocks of the RDN/RRDN networks concatenate before every conv; on onnxruntime's CPU provider the Concat
 * copies plus the NCHW↔NCHWc reorders around them took ~25 % of a thick tile, while the Adds fuse into the
 * NCHWc convolutions as their accumulate ("Sum") input. The Concat itself is emitted only for other consumers.
 */
/** Bump when `buildSrGraph` changes what it emits: it is part of the graph cache key. */
export const SR_GRAPH_VERSION = 3;

export interface SrGraphOptions {
  /** Value range the network expects and produces (UpscalerJS `inputRange`): 1 for [0,1], 255 for [0,255]. */
  range: 1 | 255;
}

export interface SrNetworkInfo {
  scale: number;
  /** Multiply-accumulates per input (low-resolution) pixel, from the layer shapes. */
  macsPerInputPixel: number;
}

function str(cfg: Record<string, unknown>, key: string): string | undefined {
  const v = cfg[key];
  return typeof v === 'string' ? v : undefined;
}

function pair(cfg: Record<string, unknown>, key: string, fallback: number): [number, number] {
  const v = cfg[key];
  if (Array.isArray(v) && v.length === 2) return [Number(v[0]), Number(v[1])];
  if (typeof v === 'number') return [v, v];
  return [fallback, fallback];
}

function unsupported(layer: TfjsLayer, what: string): never {
  throw new Error(`layer ${layer.name} (${layer.className}): ${what} is not supported`);
}

/** Keras [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw]. */
export function kerasKernelToOnnx(data: Float32Array, [kh, kw, cin, cout]: number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          out[((o * cin + i) * kh + y) * kw + x] = data[((y * kw + x) * cin + i) * cout + o];
  return out;
}

/** Input channels [lo, hi) of an ONNX kernel viewed as [cout, cin, k] (k = kh·kw). */
function sliceInputChannels(
  data: Float32Array,
  [cout, cin, k]: [number, number, number],
  lo: number,
  hi: number,
): Float32Array {
  const out = new Float32Array(cout * (hi - lo) * k);
  for (let o = 0; o < cout; o++)
    out.set(data.subarray((o * cin + lo) * k, (o * cin + hi) * k), o * (hi - lo) * k);
  return out;
}

function pixelShuffleScale(layer: TfjsLayer): number {
  const fromConfig = layer.config.scale;
  if (typeof fromConfig === 'number') return fromConfig;
  const m = /^PixelShuffle(\d+)x$/.exec(layer.className);
  if (!m) unsupported(layer, 'pixel shuffle without a scale');
  return Number(m[1]);
}

/** Walks the layers once, tracking channels and spatial scale, to count MACs and the overall upscale factor. */
export function describeSrNetwork(model: TfjsLayersModel): SrNetworkInfo {
  const { scale, macsPerInputPixel } = walkSrNetwork(model);
  return { scale, macsPerInputPixel };
}

/** Output channels of every layer (by name), the overall upscale factor and the MACs per input pixel. */
function walkSrNetwork(model: TfjsLayersModel): SrNetworkInfo & { channels: Map<string, number> } {
  const channels = new Map<string, number>();
  const scale = new Map<string, number>();
  let macs = 0;
  for (const layer of model.layers) {
    const ins = layer.inbound;
    const c0 = channels.get(ins[0]) ?? 3;
    const s0 = scale.get(ins[0]) ?? 1;
    let c = c0;
    let s = s0;
    switch (layer.className) {
      case 'InputLayer':
        c = 3;
        s = 1;
        break;
      case 'Conv2D': {
        const [kh, kw, cin, cout] = model.weights.get(`${layer.name}/kernel`)?.shape ?? [];
        macs += kh * kw * cin * cout * s0 * s0;
        c = cout;
        break;
      }
      case 'Concatenate':
        c = ins.reduce((a, n) => a + (channels.get(n) ?? 0), 0);
        break;
      case 'UpSampling2D':
        s = s0 * pair(layer.config, 'size', 2)[0];
        break;
      default:
        if (/^PixelShuffle\d+x$/.test(layer.className)) {
          const f = pixelShuffleScale(layer);
          c = c0 / (f * f);
          s = s0 * f;
        }
    }
    channels.set(layer.name, c);
    scale.set(layer.name, s);
  }
  return { scale: scale.get(model.outputs[0]) ?? 1, macsPerInputPixel: macs, channels };
}

export function buildSrGraph(model: TfjsLayersModel, opts: SrGraphOptions): GraphBuilder {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(
      `expected one input and one output, got ${model.inputs.length} and ${model.outputs.length}`,
    );
  }
  const g = new GraphBuilder('esrgan');
  const { channels } = walkSrNetwork(model);
  const values = new Map<string, string>();
  // Concatenate layers: their parts, concatenated only when a layer other than Conv2D reads them
  const concats = new Map<string, { parts: string[]; widths: number[] }>();
  const valueNamed = (name: string): string | undefined => {
    const lazy = concats.get(name);
    if (!values.has(name) && lazy) values.set(name, g.op('Concat', lazy.parts, { axis: 1 }, name));
    return values.get(name);
  };
  const inputOf = (layer: TfjsLayer, i = 0): string => {
    const v = valueNamed(layer.inbound[i]);
    if (v === undefined) throw new Error(`layer ${layer.name}: input ${layer.inbound[i]} is not defined yet`);
    return v;
  };
  const weight = (layer: TfjsLayer, suffix: string) => {
    const w = model.weights.get(`${layer.name}/${suffix}`);
    if (!w) throw new Error(`layer ${layer.name}: weight ${suffix} missing from the manifest`);
    return w;
  };

  for (const layer of model.layers) {
    const cfg = layer.config;
    let out: string;
    switch (layer.className) {
      case 'InputLayer': {
        const x = g.input('image', [1, 3, 'height', 'width']);
        out = opts.range === 1 ? x : g.op('Mul', [x, g.scalar(opts.range)]);
        break;
      }
      case 'Conv2D': {
        if ((str(cfg, 'data_format') ?? 'channels_last') !== 'channels_last')
          unsupported(layer, 'channels_first');
        if (pair(cfg, 'strides', 1).some((v) => v !== 1)) unsupported(layer, 'stride ≠ 1');
        if (pair(cfg, 'dilation_rate', 1).some((v) => v !== 1)) unsupported(layer, 'dilation');
        if ((cfg.groups ?? 1) !== 1) unsupported(layer, 'grouped convolution');
        const kernel = weight(layer, 'kernel');
        const [kh, kw, cin, cout] = kernel.shape;
        const padding = str(cfg, 'padding') ?? 'valid';
        let pads = [0, 0, 0, 0];
        if (padding === 'same') {
          pads = [
            Math.floor((kh - 1) / 2),
            Math.floor((kw - 1) / 2),
            Math.ceil((kh - 1) / 2),
            Math.ceil((kw - 1) / 2),
          ];
        } else if (padding !== 'valid') unsupported(layer, `padding ${padding}`);
        const attrs = { kernel_shape: [kh, kw], pads, strides: [1, 1] };
        const biasData = cfg.use_bias !== false ? weight(layer, 'bias').data : undefined;
        const bias = biasData ? [g.weight(`${layer.name}/bias`, [cout], () => biasData)] : [];
        const lazy = concats.get(layer.inbound[0]);
        if (lazy && lazy.widths.reduce((a, w) => a + w, 0) === cin) {
          // one Conv per concatenated input on its slice of the kernel, summed (see the header comment)
          let from = 0;
          out = '';
          lazy.parts.forEach((part, k) => {
            const [lo, hi] = [from, from + lazy.widths[k]];
            from = hi;
            const w = g.weight(`${layer.name}/kernel[${lo}:${hi}]`, [cout, hi - lo, kh, kw], () =>
              sliceInputChannels(kerasKernelToOnnx(kernel.data, kernel.shape), [cout, cin, kh * kw], lo, hi),
            );
            const partial = g.op('Conv', [part, w, ...(k === 0 ? bias : [])], attrs);
            out = k === 0 ? partial : g.op('Add', [partial, out]);
          });
        } else {
          const w = g.weight(`${layer.name}/kernel`, [cout, cin, kh, kw], () =>
            kerasKernelToOnnx(kernel.data, kernel.shape),
          );
          out = g.op('Conv', [inputOf(layer), w, ...bias], attrs, layer.name);
        }
        const act = str(cfg, 'activation') ?? 'linear';
        if (act === 'relu') out = g.op('Relu', [out]);
        else if (act !== 'linear') unsupported(layer, `activation ${act}`);
        break;
      }
      case 'Activation': {
        const act = str(cfg, 'activation');
        if (act === 'relu') out = g.op('Relu', [inputOf(layer)], {}, layer.name);
        else if (act === 'linear') out = inputOf(layer);
        else unsupported(layer, `activation ${act}`);
        break;
      }
      case 'Concatenate': {
        const axis = cfg.axis ?? -1;
        if (axis !== -1 && axis !== 3) unsupported(layer, `concatenation on axis ${String(axis)}`);
        // nested concatenations (each dense-block step appends to the previous one) are flattened
        const parts: string[] = [];
        const widths: number[] = [];
        layer.inbound.forEach((name, i) => {
          const inner = values.has(name) ? undefined : concats.get(name);
          parts.push(...(inner?.parts ?? [inputOf(layer, i)]));
          widths.push(...(inner?.widths ?? [channels.get(name) ?? 0]));
        });
        concats.set(layer.name, { parts, widths });
        continue;
      }
      case 'Add':
        out = g.op(
          'Sum',
          layer.inbound.map((_, i) => inputOf(layer, i)),
          {},
          layer.name,
        );
        break;
      case 'MultiplyBeta': {
        const beta = typeof cfg.beta === 'number' ? cfg.beta : 0.2;
        out = g.op('Mul', [inputOf(layer), g.scalar(beta)], {}, layer.name);
        break;
      }
      case 'UpSampling2D': {
        if ((str(cfg, 'interpolation') ?? 'nearest') !== 'nearest') unsupported(layer, 'bilinear upsampling');
        const [sh, sw] = pair(cfg, 'size', 2);
        out = g.op(
          'Resize',
          [inputOf(layer), '', g.constFloat([1, 1, sh, sw], [4])],
          { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
          layer.name,
        );
        break;
      }
      default:
        if (/^PixelShuffle\d+x$/.test(layer.className)) {
          out = g.op(
            'DepthToSpace',
            [inputOf(layer)],
            { blocksize: pixelShuffleScale(layer), mode: 'DCR' },
            layer.name,
          );
          break;
        }
        unsupported(layer, 'this layer type');
    }
    values.set(layer.name, out);
  }
  const last = valueNamed(model.outputs[0]);
  if (!last) throw new Error(`output layer ${model.outputs[0]} not found`);
  const result = opts.range === 1 ? last : g.op('Mul', [last, g.scalar(1 / opts.range)]);
  g.output('sr', result, [1, 3, 'out_height', 'out_width']);
  return g;
}
