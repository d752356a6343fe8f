import { GraphBuilder } from '../../engine/graph/builder.ts';
import { kerasKernelToOnnx } from '../esrgan/network.ts';
import { type FaceWeights, type NamedWeight, TINY_FACE_MEAN_RGB } from './model.ts';

/**
 * The tiny face detector as an ONNX graph (NCHW), following face-api's `TinyYolov2Base.runMobilenet` with the
 * TinyFaceDetector config (`isFirstLayerConv2d`, separable convs, no conv6/conv7):
 *
 *   (x − meanRGB) / 255
 *   conv0: 3×3 conv 3→16, 'valid' padding, + bias, leaky ReLU
 *   5 × [ 2×2 max-pool stride 2 'same', depthwise-separable conv ] (16→32→64→128→256→512)
 *   2×2 max-pool stride 1 'same'
 *   conv8: 1×1 conv 512→25 (5 anchors × [tx, ty, tw, th, objectness])
 *
 * Depthwise-separable conv (face-api `depthwiseSeparableConv`): zero-pad 1, depthwise 3×3 'valid', pointwise 1×1,
 * + bias, leaky ReLU. Leaky ReLU: face-api computes relu(x − 0.1x) + 0.1x, i.e. LeakyRelu with α = 0.1 (float32).
 * TF 'same' pooling pads ⌊t/2⌋ before and the rest after, t = max((⌈n/s⌉ − 1)·s + k − n, 0), and padded cells
 * never win the max (ONNX MaxPool pads the same way).
 *
 * Interface: input `image` [1, 3, S, S], RGB 0–255 (already padded to a square and resized to S = inputSize);
 * output `grid` [1, G, G, 25] in TF's NHWC order (G = S/32) so it compares value for value with face-api's raw
 * output and decodes with face-api's indexing.
 */

/** Bump when `buildTinyFaceGraph` changes what it emits: it is part of the graph cache key. */
export const FACE_GRAPH_VERSION = 1;

const LEAKY_ALPHA = Math.fround(0.1);

/** TF 'same' padding for one spatial axis: [before, after, output size]. */
export function tfSamePadding(n: number, k: number, s: number): [number, number, number] {
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2), out];
}

/** TF depthwise filter [kh, kw, C, 1] → ONNX grouped-conv weight [C, 1, kh, kw]. */
export function depthwiseToOnnx(data: Float32Array, [kh, kw, c, m]: number[]): Float32Array {
  if (m !== 1) throw new Error(`depthwise multiplier ${m} is not supported`);
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < c; i++) out[(i * kh + y) * kw + x] = data[(y * kw + x) * c + i];
  return out;
}

/** Side of the output grid and the spatial size after each stage, for an input side `inputSize`. */
export function tinyFaceGridSize(inputSize: number): number {
  let n = inputSize - 2; // conv0 'valid'
  for (let i = 0; i < 5; i++) n = tfSamePadding(n, 2, 2)[2];
  return n; // the stride-1 pool keeps the size
}

export function buildTinyFaceGraph({ weights }: FaceWeights, inputSize: number): GraphBuilder {
  if (!Number.isInteger(inputSize) || inputSize % 32 !== 0 || inputSize <= 0) {
    throw new RangeError(`inputSize must be a positive multiple of 32, got ${inputSize}`);
  }
  const g = new GraphBuilder('tiny-face-detector');
  const get = (name: string): NamedWeight => {
    const w = weights.get(name);
    if (!w) throw new Error(`tiny face detector weight ${name} is missing`);
    return w;
  };
  const bias = (name: string) => {
    const b = get(name);
    return g.weight(name, [b.data.length], () => b.data);
  };
  const conv = (x: string, name: string, pads: number[], act: boolean): string => {
    const k = get(`${name}/filters`);
    const [kh, kw, cin, cout] = k.shape;
    const w = g.weight(`${name}/filters`, [cout, cin, kh, kw], () => kerasKernelToOnnx(k.data, k.shape));
    const y = g.op('Conv', [x, w, bias(`${name}/bias`)], { kernel_shape: [kh, kw], pads, strides: [1, 1] });
    return act ? g.op('LeakyRelu', [y], { alpha: { f: LEAKY_ALPHA } }) : y;
  };
  const separable = (x: string, name: string): string => {
    const dw = get(`${name}/depthwise_filter`);
    const pw = get(`${name}/pointwise_filter`);
    const [kh, kw, c] = dw.shape;
    const [, , pin, pout] = pw.shape;
    const dwW = g.weight(`${name}/depthwise_filter`, [c, 1, kh, kw], () =>
      depthwiseToOnnx(dw.data, dw.shape),
    );
    const d = g.op('Conv', [x, dwW], {
      kernel_shape: [kh, kw],
      pads: [1, 1, 1, 1],
      group: c,
      strides: [1, 1],
    });
    const pwW = g.weight(`${name}/pointwise_filter`, [pout, pin, 1, 1], () =>
      kerasKernelToOnnx(pw.data, pw.shape),
    );
    const y = g.op('Conv', [d, pwW, bias(`${name}/bias`)], { kernel_shape: [1, 1], strides: [1, 1] });
    return g.op('LeakyRelu', [y], { alpha: { f: LEAKY_ALPHA } });
  };
  let n = inputSize;
  const pool = (x: string, stride: number): string => {
    const [before, after, out] = tfSamePadding(n, 2, stride);
    n = out;
    return g.op('MaxPool', [x], {
      kernel_shape: [2, 2],
      strides: [stride, stride],
      pads: [before, before, after, after],
    });
  };

  const image = g.input('image', [1, 3, inputSize, inputSize]);
  const [r, gr, b] = TINY_FACE_MEAN_RGB;
  let x = g.op('Div', [g.op('Sub', [image, g.constFloat([r, gr, b], [1, 3, 1, 1])]), g.scalar(255)]);
  x = conv(x, 'conv0', [0, 0, 0, 0], true);
  n = inputSize - 2;
  for (const name of ['conv1', 'conv2', 'conv3', 'conv4', 'conv5']) x = separable(pool(x, 2), name);
  x = pool(x, 1);
  x = conv(x, 'conv8', [0, 0, 0, 0], false);
  const grid = tinyFaceGridSize(inputSize);
  if (n !== grid) throw new Error(`internal: grid ${n} ≠ ${grid}`);
  g.output('grid', g.op('Transpose', [x], { perm: [0, 2, 3, 1] }), [1, grid, grid, 25]);
  return g;
}
