// Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/):
// `# HELP` and `# TYPE` once per family, then one `name{label="value"} number` line per sample.
export interface Sample {
  labels?: Record<string, string>;
  value: number;
  /** suffix of the family name for this sample, e.g. `_sum` of a summary */
  suffix?: string;
}

export interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'summary';
  samples: Sample[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

export function renderPrometheus(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels ?? {});
      const l = labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
      out.push(`${f.name}${s.suffix ?? ''}${l} ${number(s.value)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** Nearest-rank quantile of sorted values (Hyndman & Fan 1996, definition 1). */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
