// Row types of every table. Timestamps are ISO-8601 UTC strings with milliseconds everywhere (they sort
// lexicographically, so comparisons work the same in SQLite and PostgreSQL); booleans are 0/1 integers;
// JSON columns are text. Keep this in step with migrations.ts.
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export type Presentation = 'native' | 'astria';

export interface AccountsTable {
  id: Generated<number>;
  name: string;
  webhook_secret: string;
  created_at: string;
}

export interface ApiKeysTable {
  id: Generated<number>;
  account_id: number;
  prefix: string;
  key_hash: string;
  presentation: Presentation;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export type TuneStatus = 'queued' | 'training' | 'trained' | 'failed';

export interface TunesTable {
  id: Generated<number>;
  /** null: an operator-owned base model, visible to every account. */
  account_id: number | null;
  presentation: Presentation;
  title: string;
  name: string;
  token: string;
  branch: string;
  model_type: string | null;
  base_tune_id: number | null;
  steps: number | null;
  face_crop: number | null;
  training_face_correct: number | null;
  callback: string | null;
  characteristics: string; // JSON object of strings
  args: string; // JSON: every accepted create argument, for the record
  pending_image_urls: string; // JSON array of URLs still to download in the train job
  status: TuneStatus;
  progress: number;
  phase: string | null;
  user_error: string | null;
  eta: string | null;
  started_training_at: string | null;
  trained_at: string | null;
  failed_at: string | null;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface TuneImagesTable {
  id: Generated<number>;
  tune_id: number;
  position: number;
  blob_key: string;
  format: string;
  width: number;
  height: number;
  source_url: string | null;
  created_at: string;
}

export type PromptStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';

export interface PromptsTable {
  id: Generated<number>;
  account_id: number;
  tune_id: number;
  presentation: Presentation;
  text: string;
  negative_prompt: string | null;
  callback: string | null;
  params: string; // JSON: the caller's parameters after validation (blank ones absent)
  resolved: string | null; // JSON: every parameter as the generator used it (set when processing starts)
  notes: string; // JSON array: what the implementation did not honour (e.g. the fast mock)
  seed: number | null;
  num_images: number;
  input_image_key: string | null;
  mask_image_key: string | null;
  status: PromptStatus;
  progress: number;
  progress_step: number | null;
  progress_total: number | null;
  phase: string | null;
  user_error: string | null;
  started_training_at: string | null;
  trained_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ImagesTable {
  id: Generated<number>;
  prompt_id: number;
  account_id: number;
  position: number;
  blob_key: string;
  content_type: string;
  width: number;
  height: number;
  created_at: string;
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface JobsTable {
  id: Generated<number>;
  type: string;
  account_id: number;
  subject_id: number;
  payload: string;
  status: JobStatus;
  run_at: string;
  attempts: number;
  max_attempts: number;
  lease_owner: string | null;
  lease_expires_at: string | null;
  claimed_at: string | null;
  cancel_requested: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  account_id: number;
  event_id: string;
  event_type: string;
  subject_id: number;
  url: string;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  locked_until: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export interface IdempotencyKeysTable {
  account_id: number;
  key: string;
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
  created_at: string;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  tunes: TunesTable;
  tune_images: TuneImagesTable;
  prompts: PromptsTable;
  images: ImagesTable;
  jobs: JobsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  idempotency_keys: IdempotencyKeysTable;
  settings: SettingsTable;
}

export type Account = Selectable<AccountsTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type Tune = Selectable<TunesTable>;
export type NewTune = Insertable<TunesTable>;
export type TunePatch = Updateable<TunesTable>;
export type TuneImage = Selectable<TuneImagesTable>;
export type Prompt = Selectable<PromptsTable>;
export type NewPrompt = Insertable<PromptsTable>;
export type PromptPatch = Updateable<PromptsTable>;
export type Image = Selectable<ImagesTable>;
export type Job = Selectable<JobsTable>;
export type WebhookDelivery = Selectable<WebhookDeliveriesTable>;
