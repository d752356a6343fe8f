// Reads progress out of the API's event streams and objects. Events carry JSON; the fields read here are the
// status/progress extension of API.md §2–§3 (`status`, `progress` 0–1) plus per-step detail when present.
import type { SseEvent } from './sse.ts';

export interface ProgressUpdate {
  status?: string;
  /** 0–1 */
  progress?: number;
  step?: number;
  steps?: number;
  phase?: string;
  queuePosition?: number;
  error?: string;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Accepts a flat event (`{status, progress, step, steps}`) or one wrapping the object (`{prompt: {...}}`). */
export function parseProgress(ev: SseEvent): ProgressUpdate | null {
  let data: unknown;
  try {
    data = JSON.parse(ev.data);
  } catch {
    return null;
  }
  if (!data || typeof data !== 'object') return null;
  let o = data as Record<string, unknown>;
  for (const wrapper of ['prompt', 'tune']) {
    const inner = o[wrapper];
    if (inner && typeof inner === 'object') o = { ...(inner as Record<string, unknown>), ...o };
  }
  const p = (o.progress && typeof o.progress === 'object' ? o.progress : {}) as Record<string, unknown>;
  const step = num(o.step) ?? num(p.step);
  const steps = num(o.steps_total) ?? num(o.total_steps) ?? num(p.steps) ?? num(p.total) ?? num(o.total);
  let progress = num(o.progress) ?? num(p.fraction) ?? num(p.progress);
  if (progress === undefined && step !== undefined && steps) progress = step / steps;
  const update: ProgressUpdate = {
    status: str(o.status) ?? (ev.event !== 'message' ? ev.event : undefined),
    progress,
    step,
    steps,
    phase: str(o.phase) ?? str(p.phase),
    queuePosition: num(o.queue_position) ?? num(o.position),
    error: str(o.user_error) ?? str(o.error),
  };
  return update;
}

/** A one-line human description: "Step 12 of 30 · denoise", "Queued (position 3)". */
export function describeProgress(u: ProgressUpdate): string {
  const parts: string[] = [];
  if (u.status === 'queued' && u.queuePosition !== undefined)
    parts.push(`Queued (position ${u.queuePosition})`);
  else if (u.status) parts.push(u.status.charAt(0).toUpperCase() + u.status.slice(1));
  if (u.step !== undefined && u.steps !== undefined) parts.push(`step ${u.step} of ${u.steps}`);
  else if (u.progress !== undefined) parts.push(`${Math.round(u.progress * 100)}%`);
  if (u.phase) parts.push(u.phase);
  return parts.join(' · ');
}
