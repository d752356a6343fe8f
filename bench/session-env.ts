// onnxruntime session settings for the engine benchmarks and profiles, from the environment:
//   BENCH_THREADS    intra-op threads (default: onnxruntime's, one per physical core)
//   BENCH_OPT        graph optimization level for every session: extended | all | basic | disabled (default:
//                    the engine's per component, src/engine/load.ts COMPONENT_SESSION_DEFAULTS)
//   BENCH_ARENA      0 turns onnxruntime's CPU arena allocator off
//   BENCH_MEMPATTERN 0 turns memory-pattern planning off
//   BENCH_CONFIG     raw session config entries, e.g. "session.disable_prepacking=1,session.x=y"

import type { OptimizationLevel, SessionSettings } from '../src/engine/ort.ts';

function flag(name: string): boolean | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v !== '0';
}

export function benchSessionSettings(): SessionSettings {
  const configEntries: Record<string, string> = {};
  for (const kv of (process.env.BENCH_CONFIG ?? '').split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`BENCH_CONFIG entry ${kv} is not key=value`);
    configEntries[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return {
    intraOpThreads: Number(process.env.BENCH_THREADS ?? 0) || undefined,
    optimization: (process.env.BENCH_OPT || undefined) as OptimizationLevel | undefined,
    cpuMemArena: flag('BENCH_ARENA'),
    memPattern: flag('BENCH_MEMPATTERN'),
    configEntries: Object.keys(configEntries).length ? configEntries : undefined,
  };
}

/** One line naming the settings, for the report. */
export function describeSettings(s: SessionSettings): string {
  const entries = Object.entries(s.configEntries ?? {}).map(([k, v]) => `${k}=${v}`);
  return [
    `intra-op threads ${s.intraOpThreads ?? 'default'}`,
    `optimization ${s.optimization ?? 'default'}`,
    `arena ${s.cpuMemArena ?? 'default'}`,
    `mem pattern ${s.memPattern ?? 'default'}`,
    ...entries,
  ].join(', ');
}
