export { buildOpenApiDocument, componentSchemas, type OpenApiDocument } from './document.ts';
export { OPERATIONS, type Operation } from './operations.ts';
export { type OpenApiPluginOptions, openapiPlugin } from './plugin.ts';
export * from './responses.ts';
