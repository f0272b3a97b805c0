import type { Kysely } from 'kysely'

/**
 * Operations (issue 6): pinned files, per-user retention, a record of every clean-up and
 * backup run, and daily upload/download counters for the stats.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // 1: never expires, whatever the retention.
  await db.schema.alterTable('files').addColumn('pinned', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.createIndex('files_expiry').on('files').columns(['status', 'pinned', 'uploaded_at']).execute()

  await db.schema
    .createTable('retention_policies')
    .addColumn('user_id', 'varchar(128)', (c) => c.primaryKey())
    // Null: this user's files never expire. No row: the global retention applies.
    .addColumn('retention_ms', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('job_runs')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('job', 'varchar(64)', (c) => c.notNull())
    .addColumn('triggered_by', 'varchar(16)', (c) => c.notNull())
    // The cron tick a scheduled run belongs to; unique per job, so each tick runs once across instances.
    .addColumn('scheduled_for', 'bigint')
    .addColumn('instance', 'varchar(64)', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
    .addColumn('summary', 'text')
    .addColumn('error', 'text')
    .execute()
  await db.schema.createIndex('job_runs_tick').on('job_runs').columns(['job', 'scheduled_for']).unique().execute()
  await db.schema.createIndex('job_runs_latest').on('job_runs').columns(['job', 'started_at']).execute()

  await db.schema
    .createTable('traffic_daily')
    .addColumn('day', 'varchar(10)', (c) => c.primaryKey())
    .addColumn('uploads', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('upload_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('downloads', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('download_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('traffic_daily').execute()
  await db.schema.dropTable('job_runs').execute()
  await db.schema.dropTable('retention_policies').execute()
  await db.schema.dropIndex('files_expiry').execute()
  await db.schema.alterTable('files').dropColumn('pinned').execute()
}
