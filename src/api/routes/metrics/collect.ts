// What /metrics reports, read from the shared database rather than counted in memory: with `atelier worker`
// processes on other machines, only the database sees every job and every callback delivery.
import type { Services } from '../../../domain/context.ts';
import type { Family, Sample } from './prometheus-text.ts';
import { quantile } from './prometheus-text.ts';

/** Finished jobs whose durations feed the summary (the most recent ones). */
const DURATION_WINDOW = 1000;
const QUANTILES = [0.5, 0.9, 0.99];

interface DepthRow {
  type: string;
  state: string;
  count: number;
}
interface DurationRow {
  type: string;
  seconds: number;
}

/** The pg-boss adapter reports its own depth and durations; the embedded queue's are rows of `jobs`. */
interface QueueStats {
  depth(): Promise<DepthRow[]>;
  recentDurations?(limit: number): Promise<DurationRow[]>;
}
const hasStats = (q: unknown): q is QueueStats => typeof (q as QueueStats).depth === 'function';

async function embeddedDepth(svc: Services): Promise<DepthRow[]> {
  const rows = await svc.db
    .selectFrom('jobs')
    .select(['type', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['type', 'status'])
    .execute();
  return rows.map((r) => ({ type: r.type, state: r.status, count: Number(r.n) }));
}

async function embeddedDurations(svc: Services): Promise<DurationRow[]> {
  const rows = await svc.db
    .selectFrom('jobs')
    .select(['type', 'claimed_at', 'updated_at'])
    .where('status', '=', 'completed')
    .where('claimed_at', 'is not', null)
    .orderBy('id', 'desc')
    .limit(DURATION_WINDOW)
    .execute();
  return rows.map((r) => ({
    type: r.type,
    seconds: (Date.parse(r.updated_at) - Date.parse(r.claimed_at!)) / 1000,
  }));
}

function durationSummary(rows: DurationRow[]): Family {
  const byType = new Map<string, number[]>();
  for (const r of rows) byType.set(r.type, [...(byType.get(r.type) ?? []), r.seconds]);
  const samples: Sample[] = [];
  for (const [type, values] of byType) {
    values.sort((a, b) => a - b);
    for (const q of QUANTILES)
      samples.push({ labels: { type, quantile: String(q) }, value: quantile(values, q) });
    samples.push({ labels: { type }, suffix: '_sum', value: values.reduce((a, b) => a + b, 0) });
    samples.push({ labels: { type }, suffix: '_count', value: values.length });
  }
  return {
    name: 'atelier_job_duration_seconds',
    help: `Run time (claim to completion) of the last ${DURATION_WINDOW} completed jobs, per type`,
    type: 'summary',
    samples,
  };
}

export async function collectMetrics(svc: Services): Promise<Family[]> {
  const q = svc.queue as unknown;
  const depth = hasStats(q) ? await q.depth() : await embeddedDepth(svc);
  const durations =
    hasStats(q) && q.recentDurations
      ? await q.recentDurations(DURATION_WINDOW)
      : await embeddedDurations(svc);
  const deliveries = await svc.db
    .selectFrom('webhook_deliveries')
    .select([
      'status',
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.sum<number>('attempts').as('attempts'),
    ])
    .groupBy('status')
    .execute();
  const failedStates = new Set(['failed']);
  return [
    {
      name: 'atelier_jobs',
      help: 'Jobs per type and state (queue depth: queued/created/retry; running/active; and finished ones kept)',
      type: 'gauge',
      samples: depth.map((d) => ({ labels: { type: d.type, state: d.state }, value: d.count })),
    },
    {
      name: 'atelier_job_failures',
      help: 'Jobs that failed for good, per type',
      type: 'gauge',
      samples: aggregate(depth.filter((d) => failedStates.has(d.state))),
    },
    durationSummary(durations),
    {
      name: 'atelier_callback_deliveries',
      help: 'Callback deliveries per status (pending, delivered, failed = gave up)',
      type: 'gauge',
      samples: deliveries.map((d) => ({ labels: { status: d.status }, value: Number(d.n) })),
    },
    {
      name: 'atelier_callback_attempts',
      help: 'HTTP attempts made for callbacks: all, and failed ones (every attempt but the one that delivered)',
      type: 'gauge',
      samples: callbackAttempts(deliveries),
    },
  ];
}

function aggregate(rows: DepthRow[]): Sample[] {
  const byType = new Map<string, number>();
  for (const r of rows) byType.set(r.type, (byType.get(r.type) ?? 0) + r.count);
  return [...byType].map(([type, value]) => ({ labels: { type }, value }));
}

function callbackAttempts(rows: { status: string; n: number; attempts: number | null }[]): Sample[] {
  const all = rows.reduce((s, r) => s + Number(r.attempts ?? 0), 0);
  const delivered = Number(rows.find((r) => r.status === 'delivered')?.n ?? 0);
  return [
    { labels: { outcome: 'all' }, value: all },
    { labels: { outcome: 'failed' }, value: all - delivered },
  ];
}
