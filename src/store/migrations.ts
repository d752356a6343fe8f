// Schema migrations, written with Kysely's schema builder so the same code creates SQLite and PostgreSQL tables.
// Append new migrations; never edit one that has shipped.
import {
  type ColumnDefinitionBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresAdapter,
} from 'kysely';
import { ecosystemMigration } from './migrations-ecosystem.ts';

const initial: Migration = {
  async up(db: Kysely<unknown>) {
    // Auto-increment ids: SQLite's INTEGER PRIMARY KEY AUTOINCREMENT, PostgreSQL's serial.
    const pg = db.getExecutor().adapter instanceof PostgresAdapter;
    const id = pg ? 'serial' : 'integer';
    const pk = (c: ColumnDefinitionBuilder) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement());
    await db.schema
      .createTable('accounts')
      .addColumn('id', id, pk)
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('webhook_secret', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('api_keys')
      .addColumn('id', id, pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id'))
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('key_hash', 'text', (c) => c.notNull().unique())
      .addColumn('presentation', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema
      .createTable('tunes')
      .addColumn('id', id, pk)
      .addColumn('account_id', 'integer', (c) => c.references('accounts.id'))
      .addColumn('presentation', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token', 'text', (c) => c.notNull())
      .addColumn('branch', 'text', (c) => c.notNull())
      .addColumn('model_type', 'text')
      .addColumn('base_tune_id', 'integer')
      .addColumn('steps', 'integer')
      .addColumn('face_crop', 'integer')
      .addColumn('training_face_correct', 'integer')
      .addColumn('callback', 'text')
      .addColumn('characteristics', 'text', (c) => c.notNull())
      .addColumn('args', 'text', (c) => c.notNull())
      .addColumn('pending_image_urls', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('progress', 'real', (c) => c.notNull())
      .addColumn('phase', 'text')
      .addColumn('user_error', 'text')
      .addColumn('eta', 'text')
      .addColumn('started_training_at', 'text')
      .addColumn('trained_at', 'text')
      .addColumn('failed_at', 'text')
      .addColumn('expires_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tunes_account_title').on('tunes').columns(['account_id', 'title']).execute();
    await db.schema
      .createTable('tune_images')
      .addColumn('id', id, pk)
      .addColumn('tune_id', 'integer', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('blob_key', 'text', (c) => c.notNull())
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('width', 'integer', (c) => c.notNull())
      .addColumn('height', 'integer', (c) => c.notNull())
      .addColumn('source_url', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('tune_images_tune').on('tune_images').column('tune_id').execute();
    await db.schema
      .createTable('prompts')
      .addColumn('id', id, pk)
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('tune_id', 'integer', (c) => c.notNull())
      .addColumn('presentation', 'text', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('negative_prompt', 'text')
      .addColumn('callback', 'text')
      .addColumn('params', 'text', (c) => c.notNull())
      .addColumn('resolved', 'text')
      .addColumn('notes', 'text', (c) => c.notNull())
      .addColumn('seed', 'bigint')
      .addColumn('num_images', 'integer', (c) => c.notNull())
      .addColumn('input_image_key', 'text')
      .addColumn('mask_image_key', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('progress', 'real', (c) => c.notNull())
      .addColumn('progress_step', 'integer')
      .addColumn('progress_total', 'integer')
      .addColumn('phase', 'text')
      .addColumn('user_error', 'text')
      .addColumn('started_training_at', 'text')
      .addColumn('trained_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('prompts_account').on('prompts').columns(['account_id', 'id']).execute();
    await db.schema.createIndex('prompts_tune').on('prompts').columns(['tune_id', 'status']).execute();
    await db.schema
      .createTable('images')
      .addColumn('id', id, pk)
      .addColumn('prompt_id', 'integer', (c) => c.notNull())
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('blob_key', 'text', (c) => c.notNull())
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('width', 'integer', (c) => c.notNull())
      .addColumn('height', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('images_prompt').on('images').column('prompt_id').execute();
    await db.schema
      .createTable('jobs')
      .addColumn('id', id, pk)
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('subject_id', 'integer', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('run_at', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('max_attempts', 'integer', (c) => c.notNull())
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', 'text')
      .addColumn('claimed_at', 'text')
      .addColumn('cancel_requested', 'integer', (c) => c.notNull())
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('jobs_status_run_at').on('jobs').columns(['status', 'run_at']).execute();
    await db.schema.createIndex('jobs_account_status').on('jobs').columns(['account_id', 'status']).execute();
    await db.schema.createIndex('jobs_subject').on('jobs').columns(['type', 'subject_id']).execute();
    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', id, pk)
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('subject_id', 'integer', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'text', (c) => c.notNull())
      .addColumn('locked_until', 'text')
      .addColumn('last_status', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('delivered_at', 'text')
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_due')
      .on('webhook_deliveries')
      .columns(['status', 'next_attempt_at'])
      .execute();
    await db.schema
      .createTable('idempotency_keys')
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('request_hash', 'text', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('response_body', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_pk', ['account_id', 'key'])
      .execute();
    await db.schema
      .createTable('settings')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  },
};

/** The fair pick reads each waiting account's last claim time: index it. */
const claimIndex: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createIndex('jobs_account_claimed')
      .on('jobs')
      .columns(['account_id', 'claimed_at'])
      .execute();
  },
};

export const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_jobs_account_claimed': claimIndex,
  '0003_ecosystem_packs_likes': ecosystemMigration,
};

class StaticProvider implements MigrationProvider {
  async getMigrations() {
    return migrations;
  }
}

export async function migrateToLatest(db: Kysely<unknown>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: new StaticProvider() }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
}
