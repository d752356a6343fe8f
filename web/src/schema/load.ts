// Where the forms' schemas come from: the server's own `GET /openapi.json` when it has one, otherwise the JSON
// Schemas that `web/build.ts` generated from the zod schemas in src/domain (their hashed paths are in <meta>s).
import { type BODIES, findBodySchema, type JsonSchema } from './form-model.ts';

export interface LoadedSchema {
  source: string;
  doc: JsonSchema;
}

async function getJson(path: string): Promise<JsonSchema | null> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (!res.ok) return null;
  try {
    return (await res.json()) as JsonSchema;
  } catch {
    return null;
  }
}

let openapi: Promise<JsonSchema | null> | undefined;

export async function loadSchema(kind: keyof typeof BODIES): Promise<LoadedSchema> {
  openapi ??= getJson('/openapi.json');
  const doc = await openapi;
  if (doc) {
    try {
      findBodySchema(doc, kind);
      return { source: '/openapi.json', doc };
    } catch {
      // an OpenAPI document without this body: use the built schema
    }
  }
  const builtPath = document.querySelector<HTMLMetaElement>(`meta[name="atelier-${kind}-schema"]`)?.content;
  if (!builtPath) throw new Error(`this build carries no ${kind} schema and the server has no /openapi.json`);
  const built = await getJson(builtPath);
  if (!built) throw new Error(`could not load ${builtPath}`);
  return { source: builtPath, doc: built };
}
