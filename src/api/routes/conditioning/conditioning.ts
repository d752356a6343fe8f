// GET /conditioning (ext): each `controlnet` type's status on this installation, for the dashboard and clients.
// The same statuses decide the prompt 422s, `atelier models list` and the OpenAPI `controlnet` description.

import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import type { ConditioningInfo } from '../../../domain/ports.ts';

/** Only the documented fields: the engine's statuses also carry server paths of the loaded checkpoints. */
export function presentConditioning(s: ConditioningInfo): ConditioningInfo {
  return {
    type: s.type,
    kind: s.kind,
    available: s.available,
    preprocessor: s.preprocessor,
    ...(s.reason !== undefined && { reason: s.reason }),
    ...(s.install !== undefined && { install: s.install }),
  };
}

export async function conditioningRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  app.get('/conditioning', async () => ({
    conditioning: ((await svc.engines.conditioning?.()) ?? []).map(presentConditioning),
  }));
}
