// Turns the JSON Schema of the prompt-create body (generated from the zod schema that the API validates with)
// into a form model: one field per property, with its range, default and help text, in display groups.
// Because the form is derived from the same schema as the server's validation, the two cannot disagree.

export type JsonSchema = {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
  components?: { schemas?: Record<string, JsonSchema> };
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  title?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
  contentMediaType?: string;
  [k: string]: unknown;
};

export type FieldKind = 'text' | 'longtext' | 'integer' | 'number' | 'boolean' | 'choice' | 'url';

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  label: string;
  help: string;
  required: boolean;
  /** the value the server uses when the field is not sent */
  default?: unknown;
  min?: number;
  max?: number;
  step?: number;
  options?: (string | number)[];
  /** "null" is accepted explicitly (e.g. backend_version) */
  nullable: boolean;
}

export interface FieldGroup {
  id: string;
  title: string;
  fields: FieldSpec[];
}

/**
 * Display groups (a presentation choice; the schema itself is flat). Fields the schema has but no group names
 * land in "More options", so a parameter added to the schema always shows up in the form.
 */
export const GROUPS: { id: string; title: string; names: string[] }[] = [
  {
    id: 'basics',
    title: 'Basics',
    names: ['text', 'negative_prompt', 'num_images', 'style', 'aspect_ratio', 'w', 'h', 'seed', 'callback'],
  },
  {
    id: 'sampling',
    title: 'Sampling',
    names: ['scheduler', 'steps', 'cfg_scale', 'use_lpw', 'backend_version'],
  },
  {
    id: 'post',
    title: 'Post-processing',
    names: [
      'super_resolution',
      'hires_fix',
      'inpaint_faces',
      'face_correct',
      'face_swap',
      'color_grading',
      'film_grain',
    ],
  },
  {
    id: 'img2img',
    title: 'Img2img / ControlNet',
    names: [
      'controlnet',
      'denoising_strength',
      'controlnet_conditioning_scale',
      'controlnet_txt2img',
      'input_image_url',
      'mask_image_url',
      'lora_scale',
    ],
  },
];

/** Fields the form shows as file pickers (with the mask painter), not as schema inputs. */
export const FILE_FIELDS = new Set(['input_image', 'input_image_base64', 'mask_image']);

const LONG_TEXT = new Set(['text', 'negative_prompt']);

/** Follows local `$ref`s (`#/$defs/X`, `#/components/schemas/X`) against the document root. */
export function deref(schema: JsonSchema, root: JsonSchema, seen = new Set<string>()): JsonSchema {
  let s = schema;
  while (s.$ref) {
    if (seen.has(s.$ref)) throw new Error(`circular $ref ${s.$ref}`);
    seen.add(s.$ref);
    if (!s.$ref.startsWith('#/')) throw new Error(`only local $ref is supported: ${s.$ref}`);
    let target: unknown = root;
    for (const part of s.$ref.slice(2).split('/')) {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      target = (target as Record<string, unknown> | undefined)?.[key];
    }
    if (!target || typeof target !== 'object') throw new Error(`unresolved $ref ${s.$ref}`);
    const { $ref: _ignored, ...siblings } = s;
    s = { ...(target as JsonSchema), ...siblings };
  }
  return s;
}

/** Collapses `anyOf/oneOf [X, {type:null}]` and `allOf [X]` into X, remembering nullability. */
function simplify(schema: JsonSchema, root: JsonSchema): { s: JsonSchema; nullable: boolean } {
  let s = deref(schema, root);
  let nullable = false;
  for (;;) {
    const alts = s.anyOf ?? s.oneOf;
    if (alts) {
      const resolved = alts.map((a) => deref(a, root));
      const nonNull = resolved.filter((a) => a.type !== 'null');
      if (nonNull.length < resolved.length) nullable = true;
      const { anyOf: _a, oneOf: _o, ...outer } = s;
      const literals = nonNull.flatMap((a) => (a.const !== undefined ? [a.const] : (a.enum ?? [null])));
      if (nonNull.length > 1 && !literals.includes(null)) {
        // A union of literals (e.g. backend_version: 0 | 1 | null) is one choice.
        s = { ...outer, enum: literals };
      } else {
        // Otherwise (e.g. a boolean-or-string coercion) the first typed alternative is what a form sends.
        s = { ...(nonNull[0] ?? {}), ...outer };
      }
      continue;
    }
    if (s.allOf && s.allOf.length > 0) {
      const { allOf, ...outer } = s;
      s = Object.assign({}, ...allOf.map((a) => deref(a, root)), outer);
      continue;
    }
    break;
  }
  if (Array.isArray(s.type)) {
    if (s.type.includes('null')) nullable = true;
    s = { ...s, type: s.type.find((t) => t !== 'null') };
  }
  if (s.type === 'null') nullable = true;
  return { s, nullable };
}

export function humanLabel(name: string): string {
  const words = name.replace(/_/g, ' ');
  const fixed: Record<string, string> = {
    w: 'Width',
    h: 'Height',
    cfg_scale: 'CFG scale',
    use_lpw: 'Weighted prompt (LPW)',
    num_images: 'Number of images',
    input_image_url: 'Input image URL',
    mask_image_url: 'Mask image URL',
    lora_scale: 'LoRA scale',
    controlnet: 'ControlNet',
    controlnet_conditioning_scale: 'ControlNet conditioning scale',
    controlnet_txt2img: 'ControlNet text-to-image',
  };
  return fixed[name] ?? words.charAt(0).toUpperCase() + words.slice(1);
}

export function fieldFromSchema(
  name: string,
  schema: JsonSchema,
  root: JsonSchema,
  required: boolean,
): FieldSpec {
  const { s, nullable } = simplify(schema, root);
  const description = (schema.description ?? s.description ?? '').trim();
  const base = {
    name,
    label: s.title ?? humanLabel(name),
    help: description,
    required,
    default: schema.default ?? s.default,
    nullable,
  };
  const enumValues = s.enum ?? (s.const !== undefined ? [s.const] : undefined);
  if (enumValues) {
    const options = enumValues.filter(
      (v): v is string | number => typeof v === 'string' || typeof v === 'number',
    );
    if (enumValues.includes(null)) base.nullable = true;
    return { ...base, kind: 'choice', options };
  }
  switch (s.type) {
    case 'boolean':
      return { ...base, kind: 'boolean' };
    case 'integer':
    case 'number': {
      const min = s.minimum ?? s.exclusiveMinimum;
      const max = s.maximum ?? s.exclusiveMaximum;
      const step = s.multipleOf ?? (s.type === 'integer' ? 1 : stepFor(min, max));
      return { ...base, kind: s.type, min, max, step };
    }
    default:
      if (s.format === 'uri' || s.format === 'url' || /_url$|^callback$/.test(name))
        return { ...base, kind: 'url' };
      return { ...base, kind: LONG_TEXT.has(name) ? 'longtext' : 'text' };
  }
}

/** A float range of [0, 1] gets 0.05 steps; wider ones 0.5; unbounded any. */
function stepFor(min?: number, max?: number): number | undefined {
  if (min === undefined || max === undefined) return undefined;
  return max - min <= 1 ? 0.05 : 0.5;
}

/** Where each request body lives in an OpenAPI document, and the key wrapping its fields (API.md §1). */
export const BODIES = {
  prompt: { path: /^\/tunes\/\{[^}]+\}\/prompts$/, wrapper: 'prompt' },
  tune: { path: /^\/tunes$/, wrapper: 'tune' },
} as const;

/**
 * The object schema whose properties are the body's fields, given either the JSON Schema generated from the zod
 * schema or a whole OpenAPI document (then: the JSON request body of the matching POST route).
 */
export function findBodySchema(doc: JsonSchema, kind: keyof typeof BODIES = 'prompt'): JsonSchema {
  const { path, wrapper } = BODIES[kind];
  let s = deref(doc, doc);
  const paths = (doc as { paths?: Record<string, Record<string, unknown>> }).paths;
  if (paths) {
    const key = Object.keys(paths).find((p) => path.test(p));
    const post = key
      ? (paths[key].post as { requestBody?: { content?: Record<string, { schema?: JsonSchema }> } })
      : null;
    const body = post?.requestBody?.content?.['application/json']?.schema;
    if (!body) throw new Error(`openapi.json has no JSON request body for POST ${path.source}`);
    s = deref(body, doc);
  }
  const wrapped = s.properties?.[wrapper];
  return wrapped ? simplify(wrapped, doc).s : s;
}

/** Every field of a body schema by name (used by the tune form, which lays its few fields out by hand). */
export function fieldsOf(doc: JsonSchema, kind: keyof typeof BODIES): Map<string, FieldSpec> {
  const obj = findBodySchema(doc, kind);
  const required = new Set(obj.required ?? []);
  return new Map(
    Object.entries(obj.properties ?? {}).map(([name, schema]) => [
      name,
      fieldFromSchema(name, schema, doc, required.has(name)),
    ]),
  );
}

/** The whole form: grouped fields, in the GROUPS order, unknown ones last. */
export function buildFormModel(doc: JsonSchema): FieldGroup[] {
  const obj = findBodySchema(doc, 'prompt');
  const props = obj.properties ?? {};
  const required = new Set(obj.required ?? []);
  const fields = new Map<string, FieldSpec>();
  for (const [name, schema] of Object.entries(props)) {
    if (FILE_FIELDS.has(name)) continue;
    fields.set(name, fieldFromSchema(name, schema, doc, required.has(name)));
  }
  const groups: FieldGroup[] = GROUPS.map((g) => ({
    id: g.id,
    title: g.title,
    fields: g.names.flatMap((n) => {
      const f = fields.get(n);
      fields.delete(n);
      return f ? [f] : [];
    }),
  }));
  if (fields.size > 0) groups.push({ id: 'more', title: 'More options', fields: [...fields.values()] });
  return groups.filter((g) => g.fields.length > 0 || g.id === 'img2img');
}

/** One line of "range · default" shown under each control, from the schema only. */
export function rangeText(f: FieldSpec): string {
  const parts: string[] = [];
  if (f.min !== undefined && f.max !== undefined) parts.push(`${f.min}–${f.max}`);
  else if (f.min !== undefined) parts.push(`≥ ${f.min}`);
  else if (f.max !== undefined) parts.push(`≤ ${f.max}`);
  if (f.kind === 'integer' && f.step && f.step > 1) parts.push(`multiple of ${f.step}`);
  if (f.default !== undefined && f.default !== null && f.default !== '')
    parts.push(`default ${String(f.default)}`);
  return parts.join(' · ');
}
