// The Fastify app factory: `buildApp(config, { svc })` wires one plugin per concern and the resource routes.
// Usable with `app.inject()` in tests; `atelier serve` calls `listen` on it.
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { Services } from '../domain/context.ts';
import './types.ts';
import { openapiPlugin } from '../openapi/plugin.ts';
import { authPlugin } from './plugins/auth.ts';
import { bodyPlugin } from './plugins/body.ts';
import { errorsPlugin } from './plugins/errors.ts';
import { idempotencyPlugin } from './plugins/idempotency.ts';
import { rateLimitPlugin } from './plugins/rate-limit.ts';
import { conditioningRoutes } from './routes/conditioning/conditioning.ts';
import { imageRoutes } from './routes/images/images.ts';
import { inspectRoutes } from './routes/inspect/inspect.ts';
import { promptActionRoutes } from './routes/likes/prompt-actions.ts';
import { metricsRoutes } from './routes/metrics/metrics.ts';
import { packRoutes } from './routes/packs/packs.ts';
import { promptEventRoutes } from './routes/prompts/events.ts';
import { promptRoutes } from './routes/prompts/prompts.ts';
import { systemRoutes } from './routes/system/system.ts';
import { tuneEventRoutes } from './routes/tunes/events.ts';
import { tuneRoutes } from './routes/tunes/tunes.ts';
import { normalizeUrl } from './url.ts';

/** `req_` + 16 random hex digits, drawn from a pooled buffer: one randomBytes call per 512 requests, not each. */
let idPool = Buffer.alloc(0);
let idAt = 0;
export function requestId(): string {
  if (idAt + 8 > idPool.length) {
    idPool = randomBytes(4096);
    idAt = 0;
  }
  idAt += 8;
  return `req_${idPool.toString('hex', idAt - 8, idAt)}`;
}

export interface AppDeps {
  svc: Services;
}

export async function buildApp(config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.bodyMaxBytes,
    // Slow-loris bounds: a client trickling bytes is cut off when the whole request has not arrived in time, and
    // a silent socket is closed. requestTimeout covers receiving the request only, so SSE streams are unaffected
    // (they write a keepalive well within the idle timeout).
    requestTimeout: config.httpRequestTimeoutMs,
    connectionTimeout: config.httpIdleTimeoutMs,
    // Node checks those deadlines every connectionsCheckingInterval (30 s by default) and enforces headersTimeout
    // (60 s) separately: keep both in proportion to the request deadline.
    http: {
      headersTimeout: Math.min(60_000, config.httpRequestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, config.httpRequestTimeoutMs / 10)),
    },
    genReqId: requestId,
    rewriteUrl: (req) => normalizeUrl(req.url ?? '/'),
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-request-id', req.id);
    done(null, payload);
  });
  const opts = { svc: deps.svc };
  await app.register(errorsPlugin);
  await app.register(bodyPlugin, {
    maxFileBytes: config.uploadMaxFileBytes,
    maxLoraFileBytes: config.loraMaxBytes,
    maxFiles: config.uploadMaxFiles,
    maxBodyBytes: config.bodyMaxBytes,
  });
  await app.register(authPlugin, opts);
  await app.register(rateLimitPlugin, { perMinute: config.rateLimitPerMinute });
  await app.register(idempotencyPlugin, opts);
  await app.register(systemRoutes, opts);
  await app.register(metricsRoutes, opts);
  await app.register(tuneRoutes, opts);
  await app.register(promptRoutes, opts);
  await app.register(promptEventRoutes, opts);
  await app.register(tuneEventRoutes, opts);
  await app.register(imageRoutes, opts);
  await app.register(packRoutes, opts);
  await app.register(inspectRoutes, opts);
  await app.register(promptActionRoutes, opts);
  await app.register(conditioningRoutes, opts);
  // After the routes: the document lists the optional operations only where the app registered them.
  await app.register(openapiPlugin, {
    baseUrl: config.publicBaseUrl,
    conditioning: deps.svc.engines.conditioning,
  });
  return app;
}
