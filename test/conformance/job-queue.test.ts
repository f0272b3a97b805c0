import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import type { Database } from '../../src/db/database.js'
import { KyselyJobQueue, KyselyLocks } from '../../src/db/job-queue.repository.js'
import { MIGRATIONS } from '../../src/db/migrations/index.js'
import type { JobQueueOptions } from '../../src/jobs/job-queue.js'
import { freshPostgresDatabase } from '../helpers/backends.js'
import { describeJobQueue, type JobQueueConnection } from './job-queue.js'

// Until KyselyMetadataStore opens PostgreSQL too, build the Kysely instances here.

async function migrate(db: Kysely<Database>): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } }).migrateToLatest()
  const failed = results?.find((result) => result.status === 'Error')
  if (error || failed) throw new Error(`Migration failed${failed ? ` at ${failed.migrationName}` : ''}`, { cause: error })
}

function connection(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  options: JobQueueOptions,
  close: () => Promise<void> = () => db.destroy(),
): JobQueueConnection {
  return { queue: new KyselyJobQueue(db, dialect, options), locks: new KyselyLocks(db, dialect, options), close }
}

async function emptyTables(db: Kysely<Database>): Promise<void> {
  await db.deleteFrom('jobs').execute()
  await db.deleteFrom('locks').execute()
}

function openSqlite(path: string): Kysely<Database> {
  const database = new SqliteDatabase(path)
  database.pragma('journal_mode = WAL')
  database.pragma('busy_timeout = 5000')
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) })
}

/**
 * pg's `Pool.end()` resolves before its sockets close; `DROP DATABASE … WITH (FORCE)` in `cleanup` would
 * then kill those backends and crash the run with an unhandled 57P01. So `close` waits for every socket.
 */
function openPostgres(connectionString: string): { db: Kysely<Database>; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString, max: 4 })
  const ended: Promise<void>[] = []
  pool.on('connect', (client) => ended.push(new Promise((resolve) => client.once('end', () => resolve()))))
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  return {
    db,
    async close() {
      await db.destroy()
      await Promise.all(ended)
    },
  }
}

describeJobQueue('Kysely on SQLite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cabinet-jobs-'))
  const path = join(dir, 'cabinet.db')
  const admin = openSqlite(path)
  await migrate(admin)
  return {
    open: async (options) => connection(openSqlite(path), 'sqlite', options),
    reset: () => emptyTables(admin),
    async cleanup() {
      await admin.destroy()
      await rm(dir, { recursive: true, force: true })
    },
  }
})

describeJobQueue('Kysely on PostgreSQL', async () => {
  const database = await freshPostgresDatabase()
  const admin = openPostgres(database.url)
  await migrate(admin.db)
  return {
    async open(options) {
      const { db, close } = openPostgres(database.url)
      return connection(db, 'postgres', options, close)
    },
    reset: () => emptyTables(admin.db),
    async cleanup() {
      await admin.close()
      await database.drop()
    },
  }
})
