import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Dialect, type MigrationProvider } from 'kysely'
import type { Database } from './database.js'
import { KyselyDerivedBlobRepository } from './derived-blob.repository.js'
import { KyselyExtractionRepository, KyselySearchRepository } from './extraction.repository.js'
import { KyselyFileRepository } from './file.repository.js'
import type { MetadataStore } from './metadata-store.js'
import { KyselyJobQueue, KyselyLocks } from './job-queue.repository.js'
import { KyselySettingsRepository } from './settings.repository.js'
import { MIGRATIONS } from './migrations/index.js'
import { KyselyTokenRepository } from './token.repository.js'

const migrationProvider: MigrationProvider = { getMigrations: async () => ({ ...MIGRATIONS }) }

/** The metadata store on any SQL database Kysely speaks; migrations run on open. */
export class KyselyMetadataStore implements MetadataStore {
  readonly files: KyselyFileRepository
  readonly tokens: KyselyTokenRepository
  readonly settings: KyselySettingsRepository
  readonly extractions: KyselyExtractionRepository
  readonly search: KyselySearchRepository
  readonly derivedBlobs: KyselyDerivedBlobRepository
  /** The shared job queue and named locks live in the same database, so every instance sees them. */
  readonly jobs: KyselyJobQueue
  readonly locks: KyselyLocks

  private constructor(
    readonly dialect: 'sqlite' | 'postgres',
    readonly db: Kysely<Database>,
  ) {
    this.files = new KyselyFileRepository(db, dialect)
    this.extractions = new KyselyExtractionRepository(db, dialect)
    this.search = new KyselySearchRepository(db, dialect)
    this.derivedBlobs = new KyselyDerivedBlobRepository(db)
    this.tokens = new KyselyTokenRepository(db)
    this.settings = new KyselySettingsRepository(db)
    this.jobs = new KyselyJobQueue(db, dialect)
    this.locks = new KyselyLocks(db, dialect)
  }

  /** SQLite in WAL mode; `synchronous=FULL` so an acknowledged upload survives a power cut. */
  static async openSqlite(path: string): Promise<KyselyMetadataStore> {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 })
      // SQLite gives its -wal and -shm files the database file's mode, so create it private first.
      closeSync(openSync(path, 'a', 0o640))
    }
    const database = new SqliteDatabase(path)
    database.pragma('journal_mode = WAL')
    database.pragma('synchronous = FULL')
    database.pragma('busy_timeout = 5000')
    database.pragma('foreign_keys = ON')
    return KyselyMetadataStore.open('sqlite', new SqliteDialect({ database }))
  }

  /** PostgreSQL through a connection pool; several Cabinet instances may share the database. */
  static async openPostgres(url: string, options: { poolMax: number }): Promise<KyselyMetadataStore> {
    // Loaded only when used: the driver adds about 15 MB to a process on SQLite.
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: url, max: options.poolMax, connectionTimeoutMillis: 10_000 })
    // An idle client that loses its server must not crash the process; the next query reports it.
    pool.on('error', () => {})
    try {
      const client = await pool.connect()
      client.release()
    } catch (error) {
      await pool.end()
      throw new Error(`Cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message}`, { cause: error })
    }
    return KyselyMetadataStore.open('postgres', new PostgresDialect({ pool }))
  }

  private static async open(dialect: 'sqlite' | 'postgres', kyselyDialect: Dialect): Promise<KyselyMetadataStore> {
    const db = new Kysely<Database>({ dialect: kyselyDialect })
    const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest()
    const failed = results?.find((result) => result.status === 'Error')
    if (error || failed) {
      await db.destroy()
      throw new Error(`Database migration failed${failed ? ` at ${failed.migrationName}` : ''}`, { cause: error })
    }
    return new KyselyMetadataStore(dialect, db)
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db)
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }
}

/** The URL without its password, for messages and logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparseable URL)'
  }
}
