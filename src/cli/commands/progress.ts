// Progress on stderr for long operations. On a terminal: one line redrawn in place,
// `prompt 12  [█████████░░░░░░░░░░░]  45%  processing · denoising 9/20`. Elsewhere (logs, CI, pipes): a plain line
// each time the status, phase or queue position changes or progress crosses another 10 %, so logs stay short.
import type { OutStream } from './io.ts';

export interface ProgressState {
  status: string;
  progress: number;
  phase?: string | null;
  step?: number | null;
  total?: number | null;
  /** place in the server's job queue while queued */
  queuePosition?: number | null;
}

const BAR_WIDTH = 24;

export function describe(s: ProgressState): string {
  const parts = [
    s.status === 'queued' && s.queuePosition != null ? `queued (position ${s.queuePosition})` : s.status,
  ];
  if (s.phase) parts.push(s.step != null && s.total ? `${s.phase} ${s.step}/${s.total}` : s.phase);
  return parts.join(' · ');
}

export function bar(fraction: number, width = BAR_WIDTH): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}]`;
}

export class ProgressReporter {
  private lastPlain = '';
  private lastDecile = -1;
  private drawn = false;

  constructor(
    private readonly out: OutStream,
    private readonly label: string,
    private readonly enabled = true,
  ) {}

  update(s: ProgressState): void {
    if (!this.enabled) return;
    const pct = Math.round(Math.min(1, Math.max(0, s.progress)) * 100);
    if (this.out.isTTY) {
      let line = `${this.label}  ${bar(s.progress)} ${String(pct).padStart(3)}%  ${describe(s)}`;
      const cols = this.out.columns ?? 80;
      if (line.length > cols - 1) line = `${line.slice(0, Math.max(0, cols - 2))}…`;
      this.out.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const key = `${s.status}|${s.phase ?? ''}|${s.queuePosition ?? ''}`;
    const decile = Math.floor(pct / 10);
    if (key === this.lastPlain && decile === this.lastDecile) return;
    this.lastPlain = key;
    this.lastDecile = decile;
    this.out.write(`${this.label}: ${describe(s)} ${pct}%\n`);
  }

  /** Ends the redrawn line so later output starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
