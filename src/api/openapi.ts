// GET /openapi.json: an OpenAPI 3.1 description generated from the domain's zod schemas (the one schema source),
// so ranges, enums and help texts cannot drift from what the API enforces.
import { z } from 'zod';
import { ERRORS } from '../domain/errors.ts';
import { promptSchema } from '../domain/prompt-schema.ts';
import { tuneCreateSchema, tunePatchSchema } from '../domain/tune-schema.ts';

const schema = (s: z.ZodType) =>
  z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });

const json = (ref: string) => ({
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});
const ok = (ref: string, status = '200', array = false) => ({
  [status]: {
    description: 'OK',
    content: {
      'application/json': {
        schema: array
          ? { type: 'array', items: { $ref: `#/components/schemas/${ref}` } }
          : { $ref: `#/components/schemas/${ref}` },
      },
    },
  },
  default: { description: 'Error', ...json('Error') },
});
const id = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'integer' } });
const listParams = ['limit', 'before_id', 'offset'].map((name) => ({
  name,
  in: 'query',
  schema: { type: 'integer' },
}));

export function openApiDocument(baseUrl: string) {
  return {
    openapi: '3.1.0',
    info: { title: 'Atelier (Astria-compatible tunes & prompts API)', version: '0.1.0' },
    servers: [{ url: baseUrl }],
    security: [{ bearer: [] }],
    paths: {
      '/tunes': {
        get: {
          summary: 'List own tunes, newest first',
          parameters: listParams,
          responses: ok('Tune', '200', true),
        },
        post: {
          summary: 'Create a tune (JSON, multipart or form-urlencoded; fields may be wrapped in `tune`)',
          requestBody: {
            content: {
              'application/json': {
                schema: { type: 'object', properties: { tune: { $ref: '#/components/schemas/TuneCreate' } } },
              },
            },
          },
          responses: {
            ...ok('Tune', '201'),
            '200': { description: 'Existing tune with the same title', ...json('Tune') },
          },
        },
      },
      '/tunes/{id}': {
        parameters: [id('id')],
        get: { summary: 'Retrieve a tune', responses: ok('Tune') },
        patch: {
          summary: 'Update title, name, characteristics',
          requestBody: json('TunePatch'),
          responses: ok('Tune'),
        },
        delete: { summary: 'Delete a tune with its prompts and files', responses: ok('Tune') },
      },
      '/tunes/{tune_id}/prompts': {
        parameters: [id('tune_id')],
        get: {
          summary: "List a tune's prompts",
          parameters: listParams,
          responses: ok('Prompt', '200', true),
        },
        post: {
          summary: 'Create a prompt (fields may be wrapped in `prompt`)',
          requestBody: {
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { prompt: { $ref: '#/components/schemas/PromptCreate' } },
                },
              },
            },
          },
          responses: ok('Prompt', '201'),
        },
      },
      '/tunes/{tune_id}/prompts/{id}': {
        parameters: [id('tune_id'), id('id')],
        get: { summary: 'Retrieve a prompt', responses: ok('Prompt') },
        delete: { summary: 'Delete a prompt (cancels it if running)', responses: ok('Prompt') },
      },
      '/prompts': {
        get: { summary: 'List own prompts', parameters: listParams, responses: ok('Prompt', '200', true) },
      },
      '/prompts/{id}': {
        parameters: [id('id')],
        get: { summary: 'Retrieve a prompt', responses: ok('Prompt') },
        delete: { summary: 'Delete a prompt', responses: ok('Prompt') },
      },
      '/prompts/{id}/cancel': {
        parameters: [id('id')],
        post: { summary: 'Cancel a queued or running prompt', responses: ok('Prompt') },
      },
      '/prompts/{id}/events': {
        parameters: [id('id')],
        get: {
          summary: 'Server-Sent Events: progress, then done',
          responses: { '200': { description: 'text/event-stream' } },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        TuneCreate: schema(tuneCreateSchema),
        TunePatch: schema(tunePatchSchema),
        PromptCreate: schema(promptSchema),
        Tune: { type: 'object', description: 'Astria tune object (API.md §2)' },
        Prompt: { type: 'object', description: 'Astria prompt object (API.md §3)' },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: { type: 'string' },
            errors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
            code: { type: 'string', enum: Object.keys(ERRORS) },
            request_id: { type: 'string' },
          },
        },
      },
    },
  };
}
