// `openapiPlugin`: serves the OpenAPI document at GET /openapi.json without an API key (API.md §1). The route is
// marked `public`, which the auth hook honours. The document is built on first request, after every route is
// registered, so that optional operations (the event streams) are listed only when this server has them.
import type { FastifyInstance } from 'fastify';
import type { ConditioningInfo } from '../domain/ports.ts';
import { buildOpenApiDocument, type OpenApiDocument } from './document.ts';
import { OPTIONAL_OPERATION_IDS } from './operations.ts';

export interface OpenApiPluginOptions {
  /** The public base URL (`config.publicBaseUrl`), written as the document's server. */
  baseUrl?: string;
  /** The installation's conditioning statuses (Engines.conditioning), shown in the `controlnet` description. */
  conditioning?: () => Promise<ConditioningInfo[]>;
}

/** `/tunes/{id}/events` → `/tunes/:id/events` */
export function toFastifyPath(openapiPath: string): string {
  return openapiPath.replace(/\{(\w+)\}/g, ':$1');
}

/** The document for this app: every operation, the optional ones only where the app registered them. */
export function documentFor(
  app: FastifyInstance,
  baseUrl?: string,
  conditioning?: ConditioningInfo[],
): OpenApiDocument {
  return buildOpenApiDocument({
    serverUrl: baseUrl,
    conditioning,
    includeOperation: (op) =>
      !OPTIONAL_OPERATION_IDS.has(op.operationId) ||
      app.hasRoute({ method: op.method.toUpperCase(), url: toFastifyPath(op.path) }),
  });
}

export async function openapiPlugin(app: FastifyInstance, opts: OpenApiPluginOptions = {}): Promise<void> {
  // Rebuilt only when the conditioning statuses change (an operator installed a ControlNet while it runs).
  let doc: OpenApiDocument | undefined;
  let docKey: string | undefined;
  const handler = async () => {
    const conditioning = await opts.conditioning?.();
    const key = JSON.stringify(conditioning ?? null);
    if (!doc || key !== docKey) {
      doc = documentFor(app, opts.baseUrl, conditioning);
      docKey = key;
    }
    return doc;
  };
  // buildApp's URL normalization strips a `.json` suffix before routing, so `/openapi.json` arrives as `/openapi`;
  // both are registered so the plugin also works on an app without that rewrite. Another registration of the
  // same path (an older hand-written document) wins and is reported, rather than crashing the app at boot.
  for (const url of ['/openapi', '/openapi.json']) {
    if (app.hasRoute({ method: 'GET', url })) {
      app.log.warn(
        { url },
        'openapiPlugin: GET %s is already registered elsewhere; not serving it here',
        url,
      );
      continue;
    }
    app.get(url, { config: { public: true } }, handler);
  }
}
