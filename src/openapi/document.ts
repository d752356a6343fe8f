// Builds the OpenAPI 3.1 document from the one schema source: request bodies from the domain's zod schemas
// (src/domain/*-schema.ts, the ones the server validates with), responses from src/openapi/responses.ts, paths from
// operations.ts. zod 4 emits JSON Schema draft 2020-12, which is OpenAPI 3.1's schema dialect, so schemas go in as
// they are; the few adjustments are listed at `adjust` and in `componentSchemas`.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ConditioningInfo } from '../domain/ports.ts';
import { promptSchema } from '../domain/prompt-schema.ts';
import { tuneCreateSchema, tunePatchSchema } from '../domain/tune-schema.ts';
import { EXTRA_BODY_SCHEMAS, EXTRA_BODY_WRAPPER } from './bodies.ts';
import {
  seedImagesMissingError,
  seedJsonPrompt,
  seedJsonTune,
  seedMultipartPrompt,
  seedPatterns,
  seedPromptCompleted,
  seedPromptCreated,
  seedTuneCreated,
} from './examples.ts';
import { OPERATIONS, type Operation, type RequestBodyName, type ResponseSpec } from './operations.ts';
import { RESPONSE_SCHEMAS } from './responses.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema objects are open-ended by nature
export type JsonSchema = Record<string, any>;
export type OpenApiDocument = JsonSchema;

export interface OpenApiOptions {
  /** `servers[0].url`: the public base URL of the server describing itself. */
  serverUrl?: string;
  /** Drop operations the server does not have (the plugin passes a route check). */
  includeOperation?: (op: Operation) => boolean;
  /** This installation's conditioning statuses (GET /conditioning): the `controlnet` description lists them. */
  conditioning?: ConditioningInfo[];
}

const REF = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** The JSON-body request schemas plus every response schema, as JSON Schema, keyed by component name. */
export function componentSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  registry.add(tuneCreateSchema, { id: 'TuneCreate' });
  registry.add(tunePatchSchema, { id: 'TunePatch' });
  registry.add(promptSchema, { id: 'PromptCreate' });
  for (const [id, schema] of Object.entries(EXTRA_BODY_SCHEMAS)) registry.add(schema, { id });
  for (const [id, schema] of Object.entries(RESPONSE_SCHEMAS)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, {
    // Values as the server holds them after parsing: that is what a JSON client should send and what it gets.
    io: 'output',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
    // Uploaded files are `z.instanceof(Buffer)`, which has no JSON form: on the wire they are binary parts.
    override: (ctx) => {
      if ((ctx.zodSchema as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'custom') {
        ctx.jsonSchema.type = 'string';
        ctx.jsonSchema.format = 'binary';
      }
    },
  }).schemas as Record<string, JsonSchema>;
  for (const s of Object.values(out)) adjust(s);
  // Images are read from the raw body by the tune command, beside the schema-validated fields.
  out.TuneCreate.properties.images = {
    type: 'array',
    items: { type: 'string' },
    description:
      'Training images as base64 data URLs (data:image/jpeg;base64,…) or http(s) URLs; multipart sends files ' +
      'as tune[images][] instead. Also accepted at the top level of the body.',
  };
  // A JSON body names a LoRA to import with lora_url; lora_file is a multipart part.
  delete out.TuneCreate.properties.lora_file;
  // A JSON body carries files as input_image_base64; the binary parts exist only in multipart.
  out.PromptCreateJson = structuredClone(out.PromptCreate);
  delete out.PromptCreateJson.properties.input_image;
  delete out.PromptCreateJson.properties.mask_image;
  return out;
}

/**
 * 1. `$schema`/`$id` are dropped (the document's dialect is 2020-12 already).
 * 2. `additionalProperties: false` is dropped: the API ignores unknown fields (CLIENTS.md item 6) and clients must
 *    tolerate new response fields; test/openapi checks separately that responses carry no undocumented field.
 * Descriptions, ranges and enums stay the zod schema's own.
 */
function adjust(s: unknown): void {
  if (Array.isArray(s)) {
    for (const item of s) adjust(item);
    return;
  }
  if (!s || typeof s !== 'object') return;
  const o = s as JsonSchema;
  delete o.$schema;
  delete o.$id;
  if (o.additionalProperties === false) delete o.additionalProperties;
  for (const v of Object.values(o)) adjust(v);
}

/**
 * The Rails-style form fields of a JSON object schema: `prompt[text]`, `tune[image_urls][]`,
 * `tune[prompts_attributes][][text]` (API.md §1). Values are strings on the wire and coerced like JSON values.
 */
export function bracketFields(prefix: string, schema: JsonSchema, files: boolean): JsonSchema {
  const properties: JsonSchema = {};
  const required: string[] = [];
  for (const [k, s] of Object.entries<JsonSchema>(schema.properties ?? {})) {
    if (s.format === 'binary' && !files) continue;
    const name = `${prefix}[${k}]`;
    if (s.type === 'array' && s.items?.type === 'object') {
      for (const [ik, is] of Object.entries<JsonSchema>(s.items.properties ?? {}))
        properties[`${name}[][${ik}]`] = {
          ...is,
          description: `${s.description ?? k}: ${is.description ?? ik}`,
        };
    } else if (s.type === 'array') {
      properties[`${name}[]`] = s;
    } else if (s.type === 'object') {
      properties[name] = {
        type: 'string',
        description: `${s.description ?? ''} (a JSON-encoded object; ${name}[<key>] fields work too)`,
      };
    } else properties[name] = s;
    if (schema.required?.includes(k)) required.push(name);
  }
  return { type: 'object', properties, ...(required.length && { required }) };
}

/** A body of bodies.ts: JSON (wrapped like the route unwraps it) and the same fields as form names. */
function extraRequestBody(name: keyof typeof EXTRA_BODY_WRAPPER, schemas: Record<string, JsonSchema>) {
  const wrapper = EXTRA_BODY_WRAPPER[name];
  const schema = schemas[name];
  const flat = (files: boolean): JsonSchema => {
    const properties = Object.fromEntries(
      Object.entries<JsonSchema>(schema.properties ?? {}).filter(([, s]) => files || s.format !== 'binary'),
    );
    return { type: 'object', properties, ...(schema.required && { required: schema.required }) };
  };
  const form = (files: boolean) => (wrapper ? bracketFields(wrapper, schema, files) : flat(files));
  return {
    required: true,
    content: {
      'application/json': {
        schema: wrapper
          ? {
              type: 'object',
              description: `The fields may also sit at the top level instead of inside ${wrapper}`,
              properties: { [wrapper]: REF(name) },
            }
          : { ...flat(false), description: 'The file as file_url (JSON has no binary parts)' },
      },
      'multipart/form-data': { schema: form(true) },
      'application/x-www-form-urlencoded': { schema: form(false) },
    },
  };
}

function requestBody(name: RequestBodyName, schemas: Record<string, JsonSchema>): JsonSchema {
  if (name in EXTRA_BODY_WRAPPER) return extraRequestBody(name as keyof typeof EXTRA_BODY_WRAPPER, schemas);
  if (name === 'PromptCreate') {
    const form = bracketFields('prompt', schemas.PromptCreate, true);
    return {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['prompt'],
            properties: { prompt: REF('PromptCreateJson') },
          },
          examples: {
            seedJson: { summary: 'Seed "For Image Generation"', value: seedJsonPrompt },
            ...seedPatterns,
          },
        },
        'multipart/form-data': {
          schema: form,
          examples: {
            seedNode: { summary: 'Seed §6 Node.js form-data request', value: seedMultipartPrompt },
          },
        },
        'application/x-www-form-urlencoded': {
          schema: bracketFields('prompt', schemas.PromptCreate, false),
          examples: { seedNode: { summary: 'Seed §6 fields, urlencoded', value: seedMultipartPrompt } },
        },
      },
    };
  }
  if (name === 'TuneCreate') {
    const tune = schemas.TuneCreate;
    const form = bracketFields('tune', tune, true);
    delete form.properties['tune[images][]'];
    form.properties['tune[lora_file]'] = {
      type: 'string',
      format: 'binary',
      description: '(ext) LoRA .safetensors file to import instead of training (with base_tune_id)',
    };
    form.properties['tune[images][]'] = {
      type: 'array',
      items: { type: 'string', format: 'binary' },
      description: 'Training image files (format sniffed from the bytes; any file name or content type)',
    };
    return {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['tune'],
            description:
              'images, image_urls, steps, face_crop, callback and prompts_attributes may also sit beside tune',
            properties: {
              tune: REF('TuneCreate'),
              images: tune.properties.images,
              steps: tune.properties.steps,
              face_crop: tune.properties.face_crop,
            },
          },
          examples: { seedTune: { summary: 'Seed "For Model Training (Tunes)"', value: seedJsonTune } },
        },
        'multipart/form-data': { schema: form },
        'application/x-www-form-urlencoded': { schema: bracketFields('tune', tune, false) },
      },
    };
  }
  return {
    required: true,
    content: {
      'application/json': {
        schema: { type: 'object', required: ['tune'], properties: { tune: REF('TunePatch') } },
      },
      'multipart/form-data': { schema: bracketFields('tune', schemas.TunePatch, false) },
      'application/x-www-form-urlencoded': { schema: bracketFields('tune', schemas.TunePatch, false) },
    },
  };
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed body or query (e.g. offset beyond its cap)',
  401: 'Missing or invalid API key',
  404: 'No such object, or it belongs to another account',
  409: 'Conflicting state or a reused Idempotency-Key',
  413: 'Body or a file too large',
  415: 'Unsupported media type, or a file that is not an image',
  422: 'Validation failed: `errors` maps each field to its messages',
  500: 'Server bug (logged with the request id)',
};

function errorStatuses(op: Operation): number[] {
  const out: number[] = [];
  if (op.body || op.query?.some((q) => q.name === 'offset')) out.push(400);
  if (!op.public) out.push(401);
  if (op.path.includes('{')) out.push(404);
  if (op.body || op.path.endsWith('/cancel')) out.push(409);
  if (op.body) out.push(413, 415, 422);
  if (!op.public) out.push(500);
  return out;
}

const RESPONSE_EXAMPLES: Record<string, Record<number, { summary: string; value: unknown }>> = {
  createPrompt: { 201: { summary: 'Seed §6 "Example Response (Create Prompt)"', value: seedPromptCreated } },
  getPrompt: { 200: { summary: 'Seed §6 "Example Response (Retrieve Prompt)"', value: seedPromptCompleted } },
  getTunePrompt: {
    200: { summary: 'Seed §6 "Example Response (Retrieve Prompt)"', value: seedPromptCompleted },
  },
  createTune: {
    201: { summary: 'The seed tune request, as created', value: seedTuneCreated },
    422: { summary: 'Seed §7 issue 1: no usable image', value: seedImagesMissingError },
  },
};

function responseContent(spec: ResponseSpec): JsonSchema | undefined {
  switch (spec.content) {
    case 'image':
      return Object.fromEntries(
        ['image/jpeg', 'image/png', 'image/webp'].map((t) => [
          t,
          { schema: { type: 'string', format: 'binary' } },
        ]),
      );
    case 'safetensors':
      return { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } };
    case 'event-stream':
      return {
        'text/event-stream': {
          schema: {
            type: 'string',
            description:
              'Server-Sent Events, JSON in `data`. `event: progress` carries {id, status, progress, phase, step, ' +
              'total} on every change, and queue_position (the place in the job queue while queued, else ' +
              'null); `event: done` carries the final object (as GET returns it) and ends the ' +
              'stream; `event: deleted` carries {id} when the object is deleted meanwhile. Comment lines keep ' +
              'the connection alive.',
          },
        },
      };
    case 'openapi':
      return { 'application/json': { schema: { type: 'object' } } };
    case 'prometheus':
      return { 'text/plain; version=0.0.4': { schema: { type: 'string' } } };
    case 'text':
      return { 'text/plain': { schema: { type: 'string' } } };
  }
  if (!spec.schema) return undefined;
  const schema = spec.list ? { type: 'array', items: REF(spec.schema) } : REF(spec.schema);
  return { 'application/json': { schema } };
}

function operationObject(op: Operation, schemas: Record<string, JsonSchema>): JsonSchema {
  const responses: JsonSchema = {};
  const examples = RESPONSE_EXAMPLES[op.operationId] ?? {};
  for (const [status, spec] of Object.entries(op.responses)) {
    const content = responseContent(spec);
    const ex = examples[Number(status)];
    if (content && ex) content['application/json'].examples = { seed: ex };
    responses[status] = { description: spec.description, ...(content && { content }) };
  }
  for (const status of errorStatuses(op)) {
    const ex = examples[status];
    responses[status] = {
      description: ERROR_DESCRIPTIONS[status],
      content: { 'application/json': { schema: REF('Error'), ...(ex && { examples: { seed: ex } }) } },
    };
  }
  const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema:
      name === 'file'
        ? { type: 'string' }
        : name === 'slug'
          ? { type: 'string', description: 'Pack slug or id' }
          : { type: 'integer', minimum: 0 },
  }));
  const query = (op.query ?? []).map((q) => ({
    name: q.name,
    in: 'query',
    required: false,
    description: q.description,
    schema: { type: q.type },
  }));
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description && { description: op.description }),
    ...(op.public && { security: [] }),
    ...((pathParams.length || query.length) && { parameters: [...pathParams, ...query] }),
    ...(op.body && { requestBody: requestBody(op.body, schemas) }),
    responses,
  };
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return String(pkg.version ?? '0.0.0');
  } catch {
    return '0.0.0';
  }
}

/**
 * The `controlnet` field's description plus what this installation offers: the available types, and for the
 * others the 422 they answer (what to install, or why installing cannot help). Same text as GET /conditioning.
 */
export function controlnetDescription(base: string, statuses: ConditioningInfo[]): string {
  const available = statuses.filter((s) => s.available).map((s) => s.type);
  const others = statuses
    .filter((s) => !s.available)
    .map((s) => `${s.type}: ${s.install ? `install ${s.install}` : s.reason}`);
  return [
    base,
    `. Available on this server: ${available.length ? available.join(', ') : 'none'}.`,
    others.length ? ` The others answer 422 (GET /conditioning lists them): ${others.join('; ')}.` : '',
  ].join('');
}

export function buildOpenApiDocument(opts: OpenApiOptions = {}): OpenApiDocument {
  const schemas = componentSchemas();
  if (opts.conditioning)
    for (const name of ['PromptCreate', 'PromptCreateJson']) {
      const field = schemas[name].properties.controlnet;
      field.description = controlnetDescription(field.description, opts.conditioning);
    }
  const paths: JsonSchema = {};
  for (const op of OPERATIONS) {
    if (opts.includeOperation && !opts.includeOperation(op)) continue;
    paths[op.path] ??= {};
    paths[op.path][op.method] = operationObject(op, schemas);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Atelier API',
      version: packageVersion(),
      summary: 'Self-hosted implementation of the Astria fine-tune (tunes) and prompts API',
      description:
        'Bodies are accepted as JSON, multipart/form-data or application/x-www-form-urlencoded with Rails-style ' +
        'names (prompt[text]); form values are strings coerced like JSON values, and "" means not given. Every ' +
        'path also answers with a `.json` suffix. Unknown fields and query parameters are ignored. POSTs accept ' +
        'an Idempotency-Key header. Fields marked (ext) go beyond Astria.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    ...(opts.serverUrl && { servers: [{ url: opts.serverUrl }] }),
    security: [{ bearer: [] }],
    tags: [
      { name: 'tunes', description: 'Fine-tuned models' },
      { name: 'prompts', description: 'Generation requests on a tune' },
      { name: 'packs', description: 'Prompt templates per class, run on a new tune' },
      { name: 'images', description: 'Signed image URLs (no API key)' },
      { name: 'system', description: 'Health, account, callback log, this document' },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <API key>' },
      },
    },
  };
}
