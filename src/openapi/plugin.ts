// `openapiPlugin`: serves the OpenAPI document at GET /openapi.json without an API key (API.md §1). The route is
// marked `public`, which the auth hook honours. The document is built on first request, after every route is
// registered, so that optional operations (the event streams) are listed only when this server has them.
import type { FastifyInstance } from 'fastify';
import { buildOpenApiDocument, type OpenApiDocument } from './document.ts';
import { OPTIONAL_OPERATION_IDS } from './operations.ts';

export interface OpenApiPluginOptions {
  /** The public base URL (`config.publicBaseUrl`), written as the document's server. */
  baseUrl?: string;
}

/** `/tunes/{id}/events` → `/tunes/:id/events` */
export function toFastifyPath(openapiPath: string): string {
  return openapiPath.replace(/\{(\w+)\}/g, ':$1');
}

export async function openapiPlugin(app: FastifyInstance, opts: OpenApiPluginOptions = {}): Promise<void> {
  let doc: OpenApiDocument | undefined;
  const handler = async () => {
    doc ??= buildOpenApiDocument({
      serverUrl: opts.baseUrl,
      includeOperation: (op) =>
        !OPTIONAL_OPERATION_IDS.has(op.operationId) ||
        app.hasRoute({ method: op.method.toUpperCase(), url: toFastifyPath(op.path) }),
    });
    return doc;
  };
  // buildApp's URL normalization strips a `.json` suffix before routing, so `/openapi.json` arrives as `/openapi`;
  // both are registered so the plugin also works on an app without that rewrite.
  app.get('/openapi', { config: { public: true } }, handler);
  app.get('/openapi.json', { config: { public: true } }, handler);
}
