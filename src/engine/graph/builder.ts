// A small ONNX graph builder: named values, ops, constants, and checkpoint weights as initializers.
// Weights are kept as lazy loaders and written to an external data file when the model is emitted,
// so building a graph never holds more than one weight tensor in memory and the 2 GB protobuf limit
// does not apply. Initializer names are the checkpoint's diffusers names, so a LoRA merge can rewrite
// the weights file without touching the graph structure.

import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Attr,
  DataType,
  type DataTypeCode,
  encodeModel,
  type NodeSpec,
  type TensorSpec,
  type ValueSpec,
} from './onnx-proto.ts';

export const OPSET = 17;
export const IR_VERSION = 8;
export const MODEL_FILE = 'model.onnx';
/** onnxruntime's contrib operators (fused kernels such as MultiHeadAttention) */
export const MS_DOMAIN = 'com.microsoft';
export const WEIGHTS_FILE = 'weights.bin';
/** external tensors start on page boundaries so onnxruntime can map them instead of copying */
const WEIGHT_ALIGN = 4096;

export interface WeightEntry {
  name: string;
  dims: number[];
  load: () => Float32Array;
}

export interface EmittedWeight {
  name: string;
  dims: number[];
  offset: number;
  length: number;
}

export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly constants: TensorSpec[] = [];
  private readonly weights = new Map<string, WeightEntry>();
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /**
   * The graph so far, as the live arrays (not copies): graph transformations (autodiff, LoRA injection,
   * src/engine/graph/autodiff-ir.ts) read and rewrite the node list in place before build().
   */
  ir(): { nodes: NodeSpec[]; constants: TensorSpec[]; inputs: ValueSpec[]; outputs: ValueSpec[] } {
    return { nodes: this.nodes, constants: this.constants, inputs: this.inputs, outputs: this.outputs };
  }

  /** unique value name with a readable stem */
  fresh(stem: string): string {
    return `${stem}#${this.counter++}`;
  }

  input(name: string, dims: (number | string)[], dataType: DataTypeCode = DataType.FLOAT): string {
    this.inputs.push({ name, dims, dataType });
    return name;
  }

  output(
    name: string,
    value: string,
    dims: (number | string)[],
    dataType: DataTypeCode = DataType.FLOAT,
  ): void {
    this.op('Identity', [value], {}, name);
    this.outputs.push({ name, dims, dataType });
  }

  /** Adds one op with a single output and returns that output's name. */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, Attr> = {},
    outName?: string,
    domain?: string,
  ): string {
    const out = outName ?? this.fresh(opType);
    this.nodes.push({
      opType,
      inputs,
      outputs: [out],
      name: `${opType}_${this.nodes.length}`,
      attrs,
      domain,
    });
    return out;
  }

  /** Adds one op with several outputs. */
  opMulti(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(opType));
    this.nodes.push({ opType, inputs, outputs: outs, name: `${opType}_${this.nodes.length}`, attrs });
    return outs;
  }

  /** A checkpoint weight as an initializer named `name`; `dims` may reshape it (same element order). */
  weight(name: string, dims: number[], load: () => Float32Array): string {
    const existing = this.weights.get(name);
    if (existing) {
      if (existing.dims.join(',') !== dims.join(',')) throw new Error(`weight ${name} used with two shapes`);
      return name;
    }
    this.weights.set(name, { name, dims, load });
    return name;
  }

  constFloat(values: ArrayLike<number>, dims: number[]): string {
    const data = Float32Array.from(values);
    return this.constant(DataType.FLOAT, dims, new Uint8Array(data.buffer));
  }

  constInt64(values: ArrayLike<number>, dims: number[] = [values.length]): string {
    const data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    return this.constant(DataType.INT64, dims, new Uint8Array(data.buffer));
  }

  scalar(v: number): string {
    return this.constFloat([v], []);
  }

  private constant(dataType: DataTypeCode, dims: number[], raw: Uint8Array): string {
    const key = `${dataType}|${dims.join(',')}|${Buffer.from(raw).toString('base64')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('const');
    this.constants.push({ name, dataType, dims, raw });
    this.constCache.set(key, name);
    return name;
  }

  /** the default domain, plus onnxruntime's contrib domain when a node uses it */
  private opsets(): Record<string, number> {
    const sets: Record<string, number> = { '': OPSET };
    if (this.nodes.some((n) => n.domain === MS_DOMAIN)) sets[MS_DOMAIN] = 1;
    return sets;
  }

  weightEntries(): WeightEntry[] {
    return [...this.weights.values()];
  }

  /**
   * Writes `model.onnx` and `weights.bin` into `dir` (which must exist). `override` lets a caller
   * substitute a tensor's values (e.g. a LoRA-merged weight) by diffusers name.
   */
  emit(
    dir: string,
    override?: (name: string) => Float32Array | undefined,
    docString?: string,
  ): EmittedWeight[] {
    const placed: EmittedWeight[] = [];
    const fd = openSync(join(dir, WEIGHTS_FILE), 'w');
    try {
      let offset = 0;
      for (const w of this.weights.values()) {
        const data = override?.(w.name) ?? w.load();
        const count = w.dims.reduce((a, d) => a * d, 1);
        if (data.length !== count) {
          throw new Error(`weight ${w.name}: ${data.length} values, graph expects [${w.dims.join(',')}]`);
        }
        const pad = (WEIGHT_ALIGN - (offset % WEIGHT_ALIGN)) % WEIGHT_ALIGN;
        if (pad) writeSync(fd, new Uint8Array(pad), 0, pad, offset);
        offset += pad;
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        let done = 0;
        while (done < bytes.byteLength)
          done += writeSync(fd, bytes, done, bytes.byteLength - done, offset + done);
        placed.push({ name: w.name, dims: w.dims, offset, length: bytes.byteLength });
        offset += bytes.byteLength;
      }
    } finally {
      closeSync(fd);
    }
    const initializers: TensorSpec[] = [
      ...this.constants,
      ...placed.map((p) => ({
        name: p.name,
        dataType: DataType.FLOAT,
        dims: p.dims,
        external: { location: WEIGHTS_FILE, offset: p.offset, length: p.length },
      })),
    ];
    const bytes = encodeModel({
      graphName: this.name,
      nodes: this.nodes,
      initializers,
      inputs: this.inputs,
      outputs: this.outputs,
      opsets: this.opsets(),
      irVersion: IR_VERSION,
      docString,
    });
    const mfd = openSync(join(dir, MODEL_FILE), 'w');
    try {
      writeSync(mfd, bytes);
    } finally {
      closeSync(mfd);
    }
    return placed;
  }
}
