// The table of API operations (API.md §2–5): path, method, what each takes and answers. The document builder turns
// it into OpenAPI paths; test/openapi checks it against the routes the server actually registers, both ways.
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type SchemaName =
  | 'Tune'
  | 'Prompt'
  | 'Error'
  | 'User'
  | 'WebhookDelivery'
  | 'Health'
  | 'Pack'
  | 'Inspection'
  | 'Conditioning';
export type RequestBodyName =
  | 'TuneCreate'
  | 'TunePatch'
  | 'PromptCreate'
  | 'PromptPatch'
  | 'PromptDuplicate'
  | 'PackCreate'
  | 'PackRun'
  | 'ImageInspect';

export interface QueryParam {
  name: string;
  type: 'integer' | 'string';
  description: string;
}

export interface ResponseSpec {
  description: string;
  /** A named JSON schema; `list` makes it an array of them. */
  schema?: SchemaName;
  list?: boolean;
  /** Non-JSON answers: image bytes, the event stream, the document itself, Prometheus metrics, a plain text. */
  content?: 'image' | 'safetensors' | 'event-stream' | 'openapi' | 'prometheus' | 'text';
}

export interface Operation {
  method: HttpMethod;
  /** OpenAPI path template, e.g. /tunes/{id}. A `.json` suffix is accepted on every path too. */
  path: string;
  operationId: string;
  tag: 'tunes' | 'prompts' | 'packs' | 'images' | 'system';
  summary: string;
  description?: string;
  /** Answered without an API key. */
  public?: boolean;
  query?: QueryParam[];
  body?: RequestBodyName;
  responses: Record<number, ResponseSpec>;
}

const LIMIT: QueryParam = { name: 'limit', type: 'integer', description: 'Page size (default 20, max 120)' };
const BEFORE_ID: QueryParam = {
  name: 'before_id',
  type: 'integer',
  description: 'Keyset cursor: only objects with a smaller id (the last id of the previous page)',
};
const offset = (max: number): QueryParam => ({
  name: 'offset',
  type: 'integer',
  description: `Objects to skip (at most ${max}; beyond that 400, use before_id)`,
});

const tune = (description: string): ResponseSpec => ({ description, schema: 'Tune' });
const prompt = (description: string): ResponseSpec => ({ description, schema: 'Prompt' });
const pack = (description: string): ResponseSpec => ({ description, schema: 'Pack' });

export const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tag: 'system',
    summary: 'Liveness and database check',
    public: true,
    responses: { 200: { description: 'The server and its database answer', schema: 'Health' } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    tag: 'system',
    summary: 'This OpenAPI 3.1 document',
    public: true,
    responses: { 200: { description: 'The document', content: 'openapi' } },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'system',
    summary: '(ext) Prometheus metrics for scrapers (no API key)',
    description:
      'With ATELIER_METRICS_TOKEN set it needs `Authorization: Bearer <token>`; without it only loopback callers ' +
      'get the metrics. Anyone else gets 403.',
    public: true,
    responses: {
      200: { description: 'Prometheus text exposition format 0.0.4', content: 'prometheus' },
      403: { description: 'Not loopback, or the metrics token is missing or wrong', content: 'text' },
    },
  },
  {
    method: 'get',
    path: '/users',
    operationId: 'getUser',
    tag: 'system',
    summary: "The key's account (an object, as `astria login` expects)",
    responses: { 200: { description: 'The account', schema: 'User' } },
  },
  {
    method: 'get',
    path: '/webhook_deliveries',
    operationId: 'listWebhookDeliveries',
    tag: 'system',
    summary: '(ext) Callback delivery log, newest first',
    query: [LIMIT, BEFORE_ID],
    responses: { 200: { description: 'Deliveries', schema: 'WebhookDelivery', list: true } },
  },
  {
    method: 'get',
    path: '/conditioning',
    operationId: 'getConditioning',
    tag: 'system',
    summary: '(ext) Which controlnet types this installation can run, and what to install for the others',
    description:
      'One entry per `controlnet` value. A prompt naming a type that is not available answers 422 with the same ' +
      'reason and install text. Read from the models directory on each request, so a ControlNet installed while ' +
      'the server runs shows up at once.',
    responses: { 200: { description: 'Every conditioning type', schema: 'Conditioning' } },
  },
  {
    method: 'post',
    path: '/tunes',
    operationId: 'createTune',
    tag: 'tunes',
    summary: 'Create a tune and start training',
    description:
      'Training images come as multipart files (`tune[images][]`), http(s) URLs (`tune[image_urls][]`, downloaded ' +
      'after answering; for faceid tunes, which are ready at creation, while answering: a URL that fails is a 422 ' +
      'naming it) or base64 data URLs (`images`). Training tunes need 4–20 images, faceid tunes 1–20. The ' +
      'title is the idempotency key: creating the same title again answers 200 with the existing tune. (ext) LoRA ' +
      'import: instead of images, a LoRA .safetensors file as `tune[lora_file]` (multipart) or `tune[lora_url]`, ' +
      'with `base_tune_id` naming the base model it was made for; the file is checked (format, and on a real ' +
      'branch the base model architecture: a 422 says what does not fit) and the tune is trained at once.',
    body: 'TuneCreate',
    responses: {
      201: tune('Created; training is queued (a LoRA import: already trained)'),
      200: tune('A tune with this title already exists: returned unchanged'),
    },
  },
  {
    method: 'get',
    path: '/tunes',
    operationId: 'listTunes',
    tag: 'tunes',
    summary: 'List own tunes (and base models), newest first',
    query: [
      LIMIT,
      offset(200),
      BEFORE_ID,
      { name: 'title', type: 'string', description: 'Exact title' },
      { name: 'branch', type: 'string', description: 'sd15, sdxl1, flux1 or fast' },
      { name: 'model_type', type: 'string', description: 'lora, faceid, pti' },
    ],
    responses: { 200: { description: 'Tunes', schema: 'Tune', list: true } },
  },
  {
    method: 'get',
    path: '/tunes/{id}',
    operationId: 'getTune',
    tag: 'tunes',
    summary: 'Retrieve a tune (ready when `trained_at` is not null)',
    responses: { 200: tune('The tune') },
  },
  {
    method: 'patch',
    path: '/tunes/{id}',
    operationId: 'updateTune',
    tag: 'tunes',
    summary: 'Update title, name or characteristics',
    body: 'TunePatch',
    responses: { 200: tune('The updated tune') },
  },
  {
    method: 'put',
    path: '/tunes/{id}',
    operationId: 'replaceTune',
    tag: 'tunes',
    summary: 'Same as PATCH (some clients send PUT)',
    body: 'TunePatch',
    responses: { 200: tune('The updated tune') },
  },
  {
    method: 'delete',
    path: '/tunes/{id}',
    operationId: 'deleteTune',
    tag: 'tunes',
    summary: 'Delete a tune, its files, its prompts and their images',
    responses: { 200: tune('The tune as it was before deletion') },
  },
  {
    method: 'get',
    path: '/tunes/{id}/events',
    operationId: 'tuneEvents',
    tag: 'tunes',
    summary: '(ext) Server-Sent Events: training status and progress',
    responses: { 200: { description: 'text/event-stream of tune updates', content: 'event-stream' } },
  },
  {
    method: 'post',
    path: '/tunes/{tune_id}/prompts',
    operationId: 'createPrompt',
    tag: 'prompts',
    summary: 'Create a prompt (generation request) on a tune',
    description:
      'The text must contain the tune trigger word (e.g. `ohwx man`) or reference tunes as `<lora:ID:weight>`. ' +
      'Fields left blank are null in the answer and resolved once processing starts. A prompt on a tune still ' +
      'training waits for it.',
    body: 'PromptCreate',
    responses: { 201: prompt('Created; generation is queued') },
  },
  {
    method: 'get',
    path: '/tunes/{tune_id}/prompts',
    operationId: 'listTunePrompts',
    tag: 'prompts',
    summary: "List a tune's prompts, newest first",
    query: [LIMIT, offset(10_000), BEFORE_ID, { name: 'text', type: 'string', description: 'Text contains' }],
    responses: { 200: { description: 'Prompts', schema: 'Prompt', list: true } },
  },
  {
    method: 'get',
    path: '/tunes/{tune_id}/prompts/{id}',
    operationId: 'getTunePrompt',
    tag: 'prompts',
    summary: 'Retrieve a prompt through its tune',
    responses: { 200: prompt('The prompt') },
  },
  {
    method: 'delete',
    path: '/tunes/{tune_id}/prompts/{id}',
    operationId: 'deleteTunePrompt',
    tag: 'prompts',
    summary: 'Delete a prompt and its images (cancels it if running)',
    responses: { 200: prompt('The prompt as it was before deletion') },
  },
  {
    method: 'get',
    path: '/prompts',
    operationId: 'listPrompts',
    tag: 'prompts',
    summary: 'List all own prompts, newest first',
    query: [
      LIMIT,
      offset(10_000),
      BEFORE_ID,
      { name: 'tune_id', type: 'integer', description: 'Only this tune' },
      { name: 'text', type: 'string', description: 'Text contains' },
    ],
    responses: { 200: { description: 'Prompts', schema: 'Prompt', list: true } },
  },
  {
    method: 'get',
    path: '/prompts/{id}',
    operationId: 'getPrompt',
    tag: 'prompts',
    summary: 'Retrieve a prompt',
    responses: { 200: prompt('The prompt') },
  },
  {
    method: 'delete',
    path: '/prompts/{id}',
    operationId: 'deletePrompt',
    tag: 'prompts',
    summary: 'Delete a prompt and its images (cancels it if running)',
    responses: { 200: prompt('The prompt as it was before deletion') },
  },
  {
    method: 'post',
    path: '/prompts/{id}/cancel',
    operationId: 'cancelPrompt',
    tag: 'prompts',
    summary: '(ext) Stop a queued or running prompt',
    responses: { 200: prompt('The prompt, cancelled (or already finished)') },
  },
  {
    method: 'get',
    path: '/prompts/{id}/events',
    operationId: 'promptEvents',
    tag: 'prompts',
    summary: '(ext) Server-Sent Events: status and per-step progress',
    responses: { 200: { description: 'text/event-stream of prompt updates', content: 'event-stream' } },
  },
  {
    method: 'patch',
    path: '/prompts/{id}',
    operationId: 'updatePrompt',
    tag: 'prompts',
    summary: 'Change liked or callback at any time, generation fields while still queued',
    body: 'PromptPatch',
    responses: { 200: prompt('The updated prompt, with (ext) liked') },
  },
  {
    method: 'patch',
    path: '/tunes/{tune_id}/prompts/{id}',
    operationId: 'updateTunePrompt',
    tag: 'prompts',
    summary: 'Same as PATCH /prompts/{id}, through its tune',
    body: 'PromptPatch',
    responses: { 200: prompt('The updated prompt, with (ext) liked') },
  },
  {
    method: 'post',
    path: '/prompts/{id}/likes',
    operationId: 'likePrompt',
    tag: 'prompts',
    summary: 'Like a prompt (idempotent); GET /prompts?liked=true lists liked prompts',
    responses: { 200: prompt('The prompt, liked: true') },
  },
  {
    method: 'delete',
    path: '/prompts/{id}/likes',
    operationId: 'unlikePrompt',
    tag: 'prompts',
    summary: 'Unlike a prompt (idempotent)',
    responses: { 200: prompt('The prompt, liked: false') },
  },
  {
    method: 'post',
    path: '/prompts/{id}/duplicate',
    operationId: 'duplicatePrompt',
    tag: 'prompts',
    summary: 'A new prompt with the same parameters (and seed), overridden by the body',
    body: 'PromptDuplicate',
    responses: { 201: prompt('The copy; generation is queued') },
  },
  {
    method: 'get',
    path: '/packs',
    operationId: 'listPacks',
    tag: 'packs',
    summary: "The account's own packs",
    responses: { 200: { description: 'Packs', schema: 'Pack', list: true } },
  },
  {
    method: 'post',
    path: '/packs',
    operationId: 'createPack',
    tag: 'packs',
    summary: 'Create a pack: prompt templates per class, run on a new tune with POST /p/{slug}/tunes',
    body: 'PackCreate',
    responses: { 201: pack('The pack, with prompts_per_class') },
  },
  {
    method: 'get',
    path: '/gallery/packs',
    operationId: 'listGalleryPacks',
    tag: 'packs',
    summary:
      'Packs the operator loaded (ATELIER_PACKS_FILE or `atelier packs load`), visible to every account',
    responses: { 200: { description: 'Packs', schema: 'Pack', list: true } },
  },
  {
    method: 'get',
    path: '/p/{slug}',
    operationId: 'getPack',
    tag: 'packs',
    summary: 'A pack by slug or id (own or gallery), with its prompts per class',
    responses: { 200: pack('The pack, with prompts_per_class') },
  },
  {
    method: 'post',
    path: '/p/{slug}/tunes',
    operationId: 'runPack',
    tag: 'packs',
    summary: "Create a tune (or reuse tune_ids) and queue the pack's prompts for its class",
    description:
      'The body is a tune create (images, title, name, …) plus the run fields. The pack token in each template is ' +
      'replaced by the tune token. The title is the idempotency key, as for POST /tunes.',
    body: 'PackRun',
    responses: {
      201: tune('The tune; its prompts are created when training ends'),
      200: tune('A tune with this title already exists: returned unchanged'),
    },
  },
  {
    method: 'post',
    path: '/images/inspect',
    operationId: 'inspectImage',
    tag: 'images',
    summary: 'Check a training photo: blur, resolution and (with the face detector) faces',
    body: 'ImageInspect',
    responses: { 200: { description: 'The measurements', schema: 'Inspection' } },
  },
  {
    method: 'get',
    path: '/images/{id}/{expires}/{file}',
    operationId: 'getImage',
    tag: 'images',
    summary: 'A generated image (signed, expiring URL from a prompt; no API key)',
    public: true,
    responses: { 200: { description: 'Image bytes', content: 'image' } },
  },
  {
    method: 'get',
    path: '/tune-images/{id}/{expires}/{file}',
    operationId: 'getTuneImage',
    tag: 'images',
    summary: 'A training image (signed, expiring URL from a tune; no API key)',
    public: true,
    responses: { 200: { description: 'Image bytes', content: 'image' } },
  },
  {
    method: 'get',
    path: '/tune-weights/{id}/{expires}/{file}',
    operationId: 'getTuneWeights',
    tag: 'images',
    summary:
      "(ext) A tune's weights file: the ckpt_url of a trained or imported LoRA tune (signed, expiring URL; no API key)",
    public: true,
    responses: { 200: { description: 'The .safetensors file (as an attachment)', content: 'safetensors' } },
  },
];

/**
 * The event-stream routes API.md §3 describes, and the metrics endpoint: the document lists them only where the
 * server has them.
 */
export const OPTIONAL_OPERATION_IDS = new Set(['tuneEvents', 'promptEvents', 'metrics']);

/** Non-API routes a server may also register (the dashboard's pages and assets): not part of the document. */
export const NON_API_PATH_PREFIXES = ['/ui', '/assets'];
export const NON_API_PATHS = new Set(['/']);
