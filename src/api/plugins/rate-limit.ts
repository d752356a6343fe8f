// Per-account rate limit (API.md §5: 429 with Retry-After). A token bucket per account, in this process's memory:
// `perMinute` requests refill evenly over a minute and up to `perMinute` may burst. 0 turns it off. Several server
// processes each apply the limit on their own (a shared limiter belongs with the scale-out queue).
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../domain/errors.ts';
import { globalPlugin } from '../plugin.ts';

export class TokenBuckets {
  private readonly buckets = new Map<number, { tokens: number; at: number }>();
  constructor(
    private readonly capacity: number,
    private readonly perMs: number,
  ) {}

  /** Take one token; returns 0 when allowed, else the milliseconds until one is available. */
  take(key: number, now = Date.now()): number {
    const b = this.buckets.get(key) ?? { tokens: this.capacity, at: now };
    b.tokens = Math.min(this.capacity, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.perMs);
  }
}

export const rateLimitPlugin = globalPlugin(
  async (app: FastifyInstance, { perMinute }: { perMinute: number }) => {
    if (perMinute <= 0) return;
    const buckets = new TokenBuckets(perMinute, perMinute / 60_000);
    // onRequest, after the auth hook (registered earlier): a refused request never has its body read.
    app.addHook('onRequest', async (req, reply) => {
      if (!req.actor) return; // public routes
      const waitMs = buckets.take(req.actor.accountId);
      if (waitMs > 0) {
        reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
        throw new AppError('rate_limited', `Too many requests: retry in ${Math.ceil(waitMs / 1000)} s`);
      }
    });
  },
);
