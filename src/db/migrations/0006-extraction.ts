import { SqliteAdapter, sql, type Kysely } from 'kysely'

/**
 * What Cabinet extracts from each file (text, page and sheet layout, image facts), the search
 * index over names and that text, and the blobs derived from a file (thumbnails).
 *
 * SQLite: an FTS5 table with the trigram tokenizer, contentless (the text lives once, in
 * file_extractions.content), its rows removed by a trigger before their file's row goes.
 * PostgreSQL: pg_trgm GIN indexes over the name and the text, which serve ILIKE '%…%'.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const sqlite = db.getExecutor().adapter instanceof SqliteAdapter

  await db.schema
    .createTable('file_extractions')
    .addColumn('file_id', 'varchar(32)', (c) => c.primaryKey().references('files.id').onDelete('cascade'))
    .addColumn('user_id', 'varchar(128)', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('job_id', 'varchar(32)')
    .addColumn('error', 'text')
    .addColumn('layout', 'varchar(16)')
    .addColumn('parts', 'text')
    .addColumn('content', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('facts', 'text')
    .addColumn('word_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('search_rowid', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('file_extractions_user').on('file_extractions').columns(['user_id', 'status']).execute()

  await db.schema
    .createTable('derived_blobs')
    .addColumn('blob_key', 'varchar(600)', (c) => c.primaryKey())
    .addColumn('file_id', 'varchar(32)', (c) => c.notNull().references('files.id').onDelete('cascade'))
    .addColumn('kind', 'varchar(32)', (c) => c.notNull())
    .addColumn('variant', 'varchar(64)', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint')
    .addColumn('sha256', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('derived_blobs_file').on('derived_blobs').column('file_id').execute()

  if (sqlite) {
    await db.schema.createIndex('file_extractions_search_rowid').on('file_extractions').column('search_rowid').unique().execute()
    await sql`CREATE VIRTUAL TABLE file_search USING fts5(name, body, content='', contentless_delete=1, tokenize='trigram')`.execute(db)
    // Before, not after: the cascade removes the extraction row together with the file's.
    await sql`CREATE TRIGGER files_unindex BEFORE DELETE ON files BEGIN
      DELETE FROM file_search WHERE rowid = (SELECT search_rowid FROM file_extractions WHERE file_id = old.id);
    END`.execute(db)
  } else {
    await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db)
    await sql`CREATE INDEX file_extractions_name_trgm ON file_extractions USING gin (name gin_trgm_ops)`.execute(db)
    await sql`CREATE INDEX file_extractions_content_trgm ON file_extractions USING gin (content gin_trgm_ops)`.execute(db)
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) {
    await sql`DROP TRIGGER IF EXISTS files_unindex`.execute(db)
    await sql`DROP TABLE IF EXISTS file_search`.execute(db)
  }
  await db.schema.dropTable('derived_blobs').execute()
  await db.schema.dropTable('file_extractions').execute()
}
