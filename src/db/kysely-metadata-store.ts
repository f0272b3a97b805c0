import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Dialect, type MigrationProvider } from 'kysely'
import { KyselyApiKeyRepository } from './api-key.repository.js'
import { KyselyAuditRepository } from './audit.repository.js'
import type { Database } from './database.js'
import { KyselyFileRepository } from './file.repository.js'
import type { MetadataStore } from './metadata-store.js'
import { KyselyJobQueue, KyselyLocks } from './job-queue.repository.js'
import { KyselySettingsRepository } from './settings.repository.js'
import { WalSync, withStatementCache } from './sqlite-durability.js'
import { MIGRATIONS } from './migrations/index.js'
import { KyselyGrantRepository } from './grant.repository.js'
import { KyselyRateLimitRepository } from './rate-limit.repository.js'
import { KyselyTokenRepository } from './token.repository.js'
import { KyselyUserRepository } from './user.repository.js'

const migrationProvider: MigrationProvider = { getMigrations: async () => ({ ...MIGRATIONS }) }

/** The metadata store on any SQL database Kysely speaks; migrations run on open. */
export class KyselyMetadataStore implements MetadataStore {
  readonly files: KyselyFileRepository
  readonly tokens: KyselyTokenRepository
  readonly settings: KyselySettingsRepository
  readonly users: KyselyUserRepository
  readonly apiKeys: KyselyApiKeyRepository
  readonly grants: KyselyGrantRepository
  readonly audit: KyselyAuditRepository
  readonly rateLimits: KyselyRateLimitRepository
  /** The shared job queue and named locks live in the same database, so every instance sees them. */
  readonly jobs: KyselyJobQueue
  readonly locks: KyselyLocks

  private constructor(
    readonly dialect: 'sqlite' | 'postgres',
    readonly db: Kysely<Database>,
    private readonly walSync: WalSync | undefined,
  ) {
    this.files = new KyselyFileRepository(db)
    this.tokens = new KyselyTokenRepository(db)
    this.settings = new KyselySettingsRepository(db)
    this.users = new KyselyUserRepository(db)
    this.apiKeys = new KyselyApiKeyRepository(db)
    this.grants = new KyselyGrantRepository(db)
    this.audit = new KyselyAuditRepository(db)
    this.rateLimits = new KyselyRateLimitRepository(db)
    this.jobs = new KyselyJobQueue(db, dialect)
    this.locks = new KyselyLocks(db, dialect)
  }

  /**
   * SQLite in WAL mode. Commits skip the fsync (`synchronous=NORMAL`) so they never block the event
   * loop on the disk; `syncCommitted()` makes them durable, one shared WAL fdatasync for every caller.
   */
  static async openSqlite(path: string): Promise<KyselyMetadataStore> {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o750 })
      // SQLite gives its -wal and -shm files the database file's mode, so create it private first.
      closeSync(openSync(path, 'a', 0o640))
    }
    const database = new SqliteDatabase(path)
    database.pragma('journal_mode = WAL')
    database.pragma('synchronous = NORMAL')
    database.pragma('busy_timeout = 5000')
    database.pragma('foreign_keys = ON')
    const walSync = path === ':memory:' ? undefined : new WalSync(`${path}-wal`)
    return KyselyMetadataStore.open('sqlite', new SqliteDialect({ database: withStatementCache(database) }), walSync)
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

  private static async open(dialect: 'sqlite' | 'postgres', kyselyDialect: Dialect, walSync?: WalSync): Promise<KyselyMetadataStore> {
    const db = new Kysely<Database>({ dialect: kyselyDialect })
    const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest()
    const failed = results?.find((result) => result.status === 'Error')
    if (error || failed) {
      await db.destroy()
      throw new Error(`Database migration failed${failed ? ` at ${failed.migrationName}` : ''}`, { cause: error })
    }
    return new KyselyMetadataStore(dialect, db, walSync)
  }

  /** PostgreSQL commits are durable when they return (synchronous_commit); SQLite's once the WAL is synced. */
  async syncCommitted(): Promise<void> {
    await this.walSync?.sync()
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db)
  }

  /** Commits made just before closing (a CLI command's, say) are synced first. */
  async close(): Promise<void> {
    await this.walSync?.sync()
    await this.walSync?.close()
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
