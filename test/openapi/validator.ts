// Test helpers: validate JSON against the served OpenAPI document with ajv (JSON Schema 2020-12, OpenAPI 3.1's
// dialect), find the operation a request hit, and list the routes a Fastify app registered.
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema objects are open-ended
export type Json = Record<string, any>;

// Both are CommonJS modules that also set `exports.default` to themselves, which is what NodeNext types expose.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

const DOC_ID = 'atelier:openapi';

export class DocValidator {
  private ajv: InstanceType<typeof Ajv2020>;
  constructor(readonly doc: Json) {
    // strict: false because OpenAPI adds keywords JSON Schema does not define (`example`, `format: binary`).
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: DOC_ID, components: doc.components });
  }

  /** Errors of `value` against `schema` (which may $ref the document's components); [] when valid. */
  check(schema: Json, value: unknown): string[] {
    const rooted = JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', `"${DOC_ID}#/components/`));
    const validate = this.ajv.compile(rooted);
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`,
    );
  }

  component(name: string): Json {
    return { $ref: `#/components/schemas/${name}` };
  }

  /** The operation whose path template matches `url` (query and `.json` suffix ignored). */
  operation(method: string, url: string): { path: string; op: Json } | undefined {
    const path = url.split('?')[0].replace(/\.json$/, '');
    for (const [template, ops] of Object.entries<Json>(this.doc.paths)) {
      const re = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
      if ((re.test(path) || re.test(`${path}.json`)) && ops[method.toLowerCase()])
        return { path: template, op: ops[method.toLowerCase()] };
    }
    return undefined;
  }

  /** The JSON schema of one response of the operation `method url` answered with `status`. */
  responseSchema(method: string, url: string, status: number): Json | undefined {
    return this.operation(method, url)?.op.responses?.[status]?.content?.['application/json']?.schema;
  }
}

export interface RegisteredRoute {
  method: string;
  /** path with parameter names erased: /tunes/{}/prompts */
  shape: string;
  path: string;
}

/** Routes of a Fastify app, read from `printRoutes` (Fastify has no public route list after registration). */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const out: RegisteredRoute[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?\s*$/.exec(line);
    if (!m) continue;
    const depth = [...m[1]].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const path = stack.join('');
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()))
      if (method) out.push({ method, path, shape: shapeOf(path) });
  }
  return out;
}

/**
 * `/tunes/:id|:tune_id/prompts` and `/tunes/{tune_id}/prompts` both become `/tunes/{}/prompts`; a `.json` suffix
 * is dropped, as the server's URL normalization does before routing.
 */
export function shapeOf(path: string): string {
  return path
    .replace(/:[^/]+/g, '{}')
    .replace(/\{\w+\}/g, '{}')
    .replace(/\.json$/, '');
}
