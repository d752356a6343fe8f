// The only module that imports onnxruntime-node. Everything else speaks in plain typed arrays.

import * as ort from 'onnxruntime-node';

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionSettings {
  /** threads inside one op (0 or undefined: onnxruntime's default, one per core) */
  intraOpThreads?: number;
  interOpThreads?: number;
  optimization?: OptimizationLevel;
  /** write the optimised graph here (debugging) */
  optimizedModelPath?: string;
  /** per-node timing profile written to `<prefix>_<date>.json` (see `endProfiling`) */
  profileFilePrefix?: string;
  /** onnxruntime's CPU arena allocator (default on) */
  cpuMemArena?: boolean;
  /** pre-planned activation buffers for repeated input shapes (default on) */
  memPattern?: boolean;
  /** raw onnxruntime session config entries, e.g. { 'session.disable_prepacking': '1' } */
  configEntries?: Record<string, string>;
}

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface Feed {
  data: TensorData;
  dims: readonly number[];
}

export interface Output {
  data: Float32Array;
  dims: number[];
}

function dtypeOf(data: TensorData): 'float32' | 'float64' | 'int32' | 'int64' {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return 'int64';
}

export class FeedError extends Error {
  override name = 'FeedError';
}

export class OrtSession {
  private constructor(
    private session: ort.InferenceSession | null,
    readonly path: string,
  ) {}

  static async create(modelPath: string, settings: SessionSettings = {}): Promise<OrtSession> {
    const options: ort.InferenceSession.SessionOptions = {
      // 'all' adds NCHWc layout transforms: on SD 1.5 (2-core VM) session creation took 21-61 s instead of
      // 8-13 s for at most ~10% faster UNet runs, so 'extended' is the default; pass 'all' for long-lived workers
      graphOptimizationLevel: settings.optimization ?? 'extended',
      executionProviders: ['cpu'],
      executionMode: 'sequential',
    };
    if (settings.intraOpThreads) options.intraOpNumThreads = settings.intraOpThreads;
    if (settings.interOpThreads) options.interOpNumThreads = settings.interOpThreads;
    if (settings.optimizedModelPath) options.optimizedModelFilePath = settings.optimizedModelPath;
    if (settings.profileFilePrefix) {
      options.enableProfiling = true;
      options.profileFilePrefix = settings.profileFilePrefix;
    }
    if (settings.cpuMemArena !== undefined) options.enableCpuMemArena = settings.cpuMemArena;
    if (settings.memPattern !== undefined) options.enableMemPattern = settings.memPattern;
    if (settings.configEntries) options.extra = settings.configEntries;
    return new OrtSession(await ort.InferenceSession.create(modelPath, options), modelPath);
  }

  get inputNames(): readonly string[] {
    return this.live().inputNames;
  }
  get outputNames(): readonly string[] {
    return this.live().outputNames;
  }

  /** Each input's element type and shape (symbolic dimensions as strings), for checking an operator's model. */
  get inputInfo(): ReadonlyArray<{ name: string; type: string; shape: ReadonlyArray<number | string> }> {
    const meta =
      (this.live() as { inputMetadata?: readonly ort.InferenceSession.ValueMetadata[] }).inputMetadata ?? [];
    return meta.map((m) => ({
      name: m.name,
      type: m.isTensor ? m.type : 'non-tensor',
      shape: m.isTensor ? m.shape : [],
    }));
  }

  private live(): ort.InferenceSession {
    if (!this.session) throw new Error(`session for ${this.path} was disposed`);
    return this.session;
  }

  /** Checks the feed against the graph's inputs (names, element types, ranks) and runs it. */
  async run(feeds: Record<string, Feed>): Promise<Record<string, Output>> {
    const s = this.live();
    this.check(s, feeds);
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds))
      tensors[name] = new ort.Tensor(dtypeOf(f.data), f.data, f.dims);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await s.run(tensors);
    } catch (e) {
      throw new FeedError(`${this.path}: run failed (${describeFeeds(feeds)}): ${(e as Error).message}`);
    }
    const out: Record<string, Output> = {};
    for (const [name, t] of Object.entries(results)) {
      if (!(t.data instanceof Float32Array)) throw new Error(`output ${name} is ${t.type}, expected float32`);
      out[name] = { data: t.data, dims: [...t.dims] };
    }
    return out;
  }

  private check(s: ort.InferenceSession, feeds: Record<string, Feed>): void {
    const problems: string[] = [];
    const expected = new Set(s.inputNames);
    for (const n of s.inputNames) if (!(n in feeds)) problems.push(`missing input ${n}`);
    for (const n of Object.keys(feeds)) if (!expected.has(n)) problems.push(`unknown input ${n}`);
    const meta = (s as { inputMetadata?: readonly ort.InferenceSession.ValueMetadata[] }).inputMetadata ?? [];
    for (const m of meta) {
      const f = feeds[m.name];
      if (!f || !m.isTensor) continue;
      if (m.type !== dtypeOf(f.data)) problems.push(`${m.name} must be ${m.type}, got ${dtypeOf(f.data)}`);
      if (m.shape.length !== f.dims.length) {
        problems.push(
          `${m.name} must have rank ${m.shape.length} [${m.shape.join(',')}], got [${f.dims.join(',')}]`,
        );
      } else {
        m.shape.forEach((d, i) => {
          if (typeof d === 'number' && d >= 0 && d !== f.dims[i]) {
            problems.push(`${m.name} dim ${i} must be ${d}, got [${f.dims.join(',')}]`);
          }
        });
      }
      const count = f.dims.reduce((a, d) => a * d, 1);
      if (count !== f.data.length)
        problems.push(`${m.name}: dims [${f.dims.join(',')}] need ${count} values, got ${f.data.length}`);
    }
    if (problems.length) {
      throw new FeedError(`${this.path}: bad feed: ${problems.join('; ')} (fed ${describeFeeds(feeds)})`);
    }
  }

  /** Stops profiling (sessions created with `profileFilePrefix`) and writes `<prefix>_<date>.json`. */
  endProfiling(): void {
    this.live().endProfiling();
  }

  async dispose(): Promise<void> {
    const s = this.session;
    this.session = null;
    await s?.release();
  }
}

function describeFeeds(feeds: Record<string, Feed>): string {
  return Object.entries(feeds)
    .map(([n, f]) => `${n}: ${dtypeOf(f.data)}[${f.dims.join(',')}]`)
    .join(', ');
}
