// Tables of the Astria-ecosystem features (CLIENTS.md items 34–36, prompt likes): packs, their prompt templates,
// pack runs (for the one-shot `prompts_callback`) and likes. Same Kysely schema builder as migrations.ts, so it
// creates the same tables in SQLite and PostgreSQL. Never edit once shipped: append a new migration instead.
import { type ColumnDefinitionBuilder, type Kysely, type Migration, PostgresAdapter } from 'kysely';

export const ecosystemMigration: Migration = {
  async up(db: Kysely<unknown>) {
    const pg = db.getExecutor().adapter instanceof PostgresAdapter;
    const id = pg ? 'serial' : 'integer';
    const pk = (c: ColumnDefinitionBuilder) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement());
    await db.schema
      .createTable('packs')
      .addColumn('id', id, pk)
      // null: a gallery pack loaded by the operator, visible to every account
      .addColumn('account_id', 'integer')
      .addColumn('slug', 'text', (c) => c.notNull().unique())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('subtitle', 'text')
      .addColumn('description', 'text')
      .addColumn('cover_url', 'text')
      .addColumn('base_tune_id', 'integer')
      .addColumn('model_type', 'text')
      .addColumn('token', 'text', (c) => c.notNull())
      .addColumn('main_class_name', 'text')
      .addColumn('public_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('pack_prompts')
      .addColumn('id', id, pk)
      .addColumn('pack_id', 'integer', (c) => c.notNull())
      .addColumn('class_name', 'text', (c) => c.notNull())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('attributes', 'text', (c) => c.notNull()) // JSON: prompt fields other than text
      .execute();
    await db.schema
      .createIndex('pack_prompts_pack')
      .on('pack_prompts')
      .columns(['pack_id', 'class_name'])
      .execute();
    await db.schema
      .createTable('pack_runs')
      .addColumn('id', id, pk)
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('pack_id', 'integer', (c) => c.notNull())
      .addColumn('tune_id', 'integer', (c) => c.notNull())
      .addColumn('prompt_ids', 'text', (c) => c.notNull()) // JSON array of the prompts this run created
      .addColumn('prompts_callback', 'text')
      .addColumn('callback_sent_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('pack_runs_tune').on('pack_runs').column('tune_id').execute();
    await db.schema
      .createTable('prompt_likes')
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('prompt_id', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('prompt_likes_pk', ['account_id', 'prompt_id'])
      .execute();
  },
};
