// Health, the caller's account (CLIENTS.md item 38: `astria login` reads GET /users as an object) and the
// callback delivery log (API.md §4, ext).

import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { getAccount } from '../../../store/accounts.ts';
import { listDeliveries } from '../../../store/webhooks.ts';
import { parsePage } from '../../list-query.ts';
import { checkHealth } from '../metrics/health.ts';

export async function systemRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  // Database, queue and storage each answer (checkHealth); 503 with the failing check's message otherwise.
  app.get('/healthz', { config: { public: true } }, async (_req, reply) => {
    const h = await checkHealth(svc);
    if (!h.ok) return reply.code(503).send(h);
    return { ok: true };
  });

  app.get('/users', async (req) => {
    const a = await getAccount(svc.db, req.actor.accountId);
    return { id: req.actor.accountId, name: a?.name ?? null, email: null, usd_balance_mc: 0 };
  });

  app.get('/webhook_deliveries', async (req) => {
    const page = parsePage(req.query, 0);
    const rows = await listDeliveries(svc.db, req.actor.accountId, page.limit, page.beforeId);
    return rows.map((d) => ({
      id: d.id,
      webhook_id: d.event_id,
      event: d.event_type,
      subject_id: d.subject_id,
      url: d.url,
      status: d.status,
      attempts: d.attempts,
      last_status: d.last_status,
      last_error: d.last_error,
      next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null,
      created_at: d.created_at,
      delivered_at: d.delivered_at,
    }));
  });
}
