// Idempotency-Key on POST (API.md §5, ext): the same key with the same body replays the first response; with a
// different body → 409. The key is reserved before the handler runs, so two concurrent requests cannot both act.
import { createHash } from 'node:crypto';
import type { FastifyInstance, onSendAsyncHookHandler, preHandlerAsyncHookHandler } from 'fastify';
import type { Services } from '../../domain/context.ts';
import { AppError } from '../../domain/errors.ts';
import {
  completeIdempotencyKey,
  releaseIdempotencyKey,
  reserveIdempotencyKey,
} from '../../store/idempotency.ts';
import { globalPlugin } from '../plugin.ts';

/** A stable hash of method, path and body; file contents enter as their own hash. */
export function requestHash(method: string, url: string, body: unknown): string {
  const h = createHash('sha256').update(`${method} ${url}\n`);
  const walk = (v: unknown): unknown => {
    if (Buffer.isBuffer(v)) return `sha256:${createHash('sha256').update(v).digest('hex')}`;
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, walk((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return h.update(JSON.stringify(walk(body) ?? null)).digest('hex');
}

export const idempotencyPlugin = globalPlugin(async (app: FastifyInstance, { svc }: { svc: Services }) => {
  const reserve: preHandlerAsyncHookHandler = async (req, reply) => {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || !key || !req.actor) return;
    if (key.length > 255)
      throw new AppError('malformed_body', 'Idempotency-Key is longer than 255 characters');
    const hash = requestHash(req.method, req.url, req.body);
    const prior = await reserveIdempotencyKey(svc.db, req.actor.accountId, key, hash);
    if (!prior) {
      req.idempotencyKey = key;
      return;
    }
    if (prior.request_hash !== hash) throw new AppError('idempotency_key_reused');
    if (prior.status_code === null) throw new AppError('idempotency_key_in_flight');
    reply.header('idempotent-replayed', 'true');
    return reply.code(prior.status_code).type('application/json').send(prior.response_body);
  };

  const complete: onSendAsyncHookHandler = async (req, reply, payload) => {
    const key = req.idempotencyKey;
    if (!key) return payload;
    req.idempotencyKey = undefined;
    if (reply.statusCode >= 500 || typeof payload !== 'string')
      await releaseIdempotencyKey(svc.db, req.actor.accountId, key);
    else await completeIdempotencyKey(svc.db, req.actor.accountId, key, reply.statusCode, payload);
    return payload;
  };

  // Only POST routes carry the two hooks (routes are registered after this plugin), so GETs skip them entirely.
  app.addHook('onRoute', (route) => {
    if (![route.method].flat().includes('POST')) return;
    route.preHandler = [route.preHandler ?? []].flat().concat(reserve);
    route.onSend = [route.onSend ?? []].flat().concat(complete);
  });
});
