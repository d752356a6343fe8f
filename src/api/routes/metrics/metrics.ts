// GET /metrics in the Prometheus text format (collect.ts says what). Not behind API keys: scrapers have none.
// With ATELIER_METRICS_TOKEN set it needs `Authorization: Bearer <token>`; without, only loopback callers get it
// (a scraper on the same host, or through a reverse proxy that adds the token).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { collectMetrics } from './collect.ts';
import { renderPrometheus } from './prometheus-text.ts';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function allowed(req: FastifyRequest, token: string | undefined): boolean {
  if (!token) return LOOPBACK.test(req.socket.remoteAddress ?? '');
  const got = Buffer.from(/^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function metricsRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  app.get('/metrics', { config: { public: true } }, async (req, reply) => {
    if (!allowed(req, svc.config.metricsToken)) {
      return reply
        .code(403)
        .type('text/plain')
        .send('metrics: bearer token required (ATELIER_METRICS_TOKEN)\n');
    }
    const text = renderPrometheus(await collectMetrics(svc));
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
}
