// Webhook dispatcher: delivers persisted callback events (src/store/webhooks.ts) with Standard Webhooks headers.
// It runs beside the job worker, never inside a job, so a slow or dead receiver cannot block generation; each
// delivery is retried with backoff and jitter (retryDelayMs) until delivered or older than MAX_DELIVERY_AGE_MS.
import type { Services } from '../domain/context.ts';
import { redact } from '../net/guarded-fetch.ts';
import { getAccount } from '../store/accounts.ts';
import { nowIso } from '../store/db.ts';
import type { WebhookDelivery } from '../store/schema.ts';
import { lockDueDeliveries, nextDeliveryDueAt, recordDeliveryAttempt } from '../store/webhooks.ts';
import { WakeableSleep } from './wakeable-sleep.ts';
import { MAX_DELIVERY_AGE_MS, retryDelayMs, webhookHeaders } from './webhook-signing.ts';

export interface DispatcherOptions {
  concurrency: number;
  pollMs: number;
  lockMs: number;
  /** Backoff schedule; defaults to the Standard Webhooks helper's (tests shorten it). */
  retryDelay?: (attempt: number) => number;
}

export class WebhookDispatcher {
  private stopping = false;
  private loopDone: Promise<void> | null = null;
  private readonly idleSleep = new WakeableSleep();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly svc: Services,
    private readonly opts: DispatcherOptions,
  ) {}

  start(): void {
    this.loopDone ??= this.loop();
  }

  wake(): void {
    this.idleSleep.wake();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loopDone;
    await Promise.allSettled(this.inFlight);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        const free = this.opts.concurrency - this.inFlight.size;
        const batch = free > 0 ? await lockDueDeliveries(this.svc.db, free, this.opts.lockMs) : [];
        for (const d of batch) {
          const p = this.deliver(d).finally(() => {
            this.inFlight.delete(p);
            this.wake();
          });
          this.inFlight.add(p);
        }
      } catch (err) {
        this.svc.log.error({ err }, 'webhook dispatcher error');
      }
      if (!this.stopping) await this.idle();
    }
  }

  private async idle(): Promise<void> {
    let ms = this.opts.pollMs;
    if (this.inFlight.size < this.opts.concurrency) {
      const due = await nextDeliveryDueAt(this.svc.db).catch(() => undefined);
      if (due) ms = Math.max(0, Math.min(ms, Date.parse(due) - Date.now()));
    }
    await this.idleSleep.sleep(ms);
  }

  /** One attempt; the outcome (and the next attempt time, if any) is written back to the row. */
  async deliver(d: WebhookDelivery): Promise<void> {
    let status: number | null = null;
    let error: string | null = null;
    try {
      const account = await getAccount(this.svc.db, d.account_id);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Atelier-Webhooks/1',
        ...webhookHeaders(account?.webhook_secret ?? '', d.event_id, Math.floor(Date.now() / 1000), d.body),
      };
      const res = await this.svc.outbound.fetch(d.url, { method: 'POST', headers, body: d.body });
      status = res.status;
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const ok = error === null;
    const delay = (this.opts.retryDelay ?? retryDelayMs)(d.attempts + 1);
    const tooOld = Date.now() + delay - Date.parse(d.created_at) > MAX_DELIVERY_AGE_MS;
    const nextAttemptAt = ok || tooOld ? null : nowIso(Date.now() + delay);
    if (!ok)
      this.svc.log.warn(
        { delivery: d.id, url: redact(d.url), error, retry: nextAttemptAt }, // query may hold a secret
        'callback delivery failed',
      );
    await recordDeliveryAttempt(this.svc.db, d.id, { ok, status, error, nextAttemptAt });
  }
}
