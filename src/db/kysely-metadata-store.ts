import { closeSync, mkdirSync, openSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Dialect, type MigrationProvider } from 'kysely'
import { KyselyBlobReferenceRepository } from './blob-reference.repository.js'
import { KyselyApiKeyRepository } from './api-key.repository.js'
import { KyselyConversationRepository } from './conversation.repository.js'
import { KyselyAuditRepository } from './audit.repository.js'
import type { Database } from './database.js'
import { KyselyDerivedBlobRepository } from './derived-blob.repository.js'
import { KyselyExtractionRepository, KyselySearchRepository } from './extraction.repository.js'
import { KyselyFileRepository } from './file.repository.js'
import { KyselyJobRunRepository } from './job-run.repository.js'
import type { BlobReference, MetadataSnapshot, MetadataStore } from './metadata-store.js'
import { runPgTool } from './pg-tools.js'
import { poolReportingOutages, type StatementLimits } from './postgres-pool.js'
import { KyselyRetentionRepository } from './retention.repository.js'
import { KyselyStatsRepository } from './stats.repository.js'
import { KyselyTrafficRepository } from './traffic.repository.js'
import { KyselyJobQueue, KyselyLocks } from './job-queue.repository.js'
import { KyselySettingsRepository } from './settings.repository.js'
import { WalSync, withStatementCache } from './sqlite-durability.js'
import { MIGRATIONS } from './migrations/index.js'
import { KyselyGrantRepository } from './grant.repository.js'
import { KyselyRateLimitRepository } from './rate-limit.repository.js'
import { KyselyTokenRepository } from './token.repository.js'
import { KyselyUserRepository } from './user.repository.js'

/** How long a PostgreSQL statement may go unanswered (and a new connection take) unless configured. */
const DEFAULT_POSTGRES_TIMEOUT_MS = 30_000

const migrationProvider: MigrationProvider = { getMigrations: async () => ({ ...MIGRATIONS }) }

/** What the store was opened on, for the operations that go below Kysely (snapshots, sizes). */
type Source = { readonly kind: 'sqlite'; readonly database: SqliteDatabase.Database; readonly path: string } | { readonly kind: 'postgres'; readonly url: string }

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

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
  readonly extractions: KyselyExtractionRepository
  readonly search: KyselySearchRepository
  readonly derivedBlobs: KyselyDerivedBlobRepository
  readonly conversations: KyselyConversationRepository
  /** The shared job queue and named locks live in the same database, so every instance sees them. */
  readonly jobs: KyselyJobQueue
  readonly locks: KyselyLocks
  readonly blobReferences: KyselyBlobReferenceRepository
  readonly retention: KyselyRetentionRepository
  readonly jobRuns: KyselyJobRunRepository
  readonly traffic: KyselyTrafficRepository
  readonly stats: KyselyStatsRepository

  private constructor(
    readonly dialect: 'sqlite' | 'postgres',
    readonly db: Kysely<Database>,
    private readonly source: Source,
    private readonly walSync: WalSync | undefined,
  ) {
    this.blobReferences = new KyselyBlobReferenceRepository(db)
    this.retention = new KyselyRetentionRepository(db)
    this.jobRuns = new KyselyJobRunRepository(db)
    this.traffic = new KyselyTrafficRepository(db)
    this.stats = new KyselyStatsRepository(db)
    this.files = new KyselyFileRepository(db, dialect)
    this.extractions = new KyselyExtractionRepository(db, dialect)
    this.search = new KyselySearchRepository(db, dialect)
    this.derivedBlobs = new KyselyDerivedBlobRepository(db)
    this.conversations = new KyselyConversationRepository(db)
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
    return KyselyMetadataStore.open('sqlite', new SqliteDialect({ database: withStatementCache(database) }), { kind: 'sqlite', database, path }, walSync)
  }

  /** PostgreSQL through a connection pool; several Cabinet instances may share the database. */
  static async openPostgres(url: string, options: { poolMax: number; timeoutMs?: number }): Promise<KyselyMetadataStore> {
    // Loaded only when used: the driver adds about 15 MB to a process on SQLite.
    const { default: pg } = await import('pg')
    const timeoutMs = options.timeoutMs ?? DEFAULT_POSTGRES_TIMEOUT_MS
    const pool = new pg.Pool({ connectionString: url, max: options.poolMax, connectionTimeoutMillis: Math.min(timeoutMs, 10_000) })
    // An idle client that loses its server must not crash the process; the next query reports it.
    pool.on('error', () => {})
    try {
      const client = await pool.connect()
      client.release()
    } catch (error) {
      await pool.end()
      throw new Error(`Cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message}`, { cause: error })
    }
    const limits: StatementLimits = { timeoutMs: undefined }
    const store = await KyselyMetadataStore.open('postgres', new PostgresDialect({ pool: poolReportingOutages(pool, limits) }), { kind: 'postgres', url })
    // Migrations may rightly take long on a large database; after them, a server that stops answering fails requests in time.
    limits.timeoutMs = timeoutMs
    return store
  }

  private static async open(dialect: 'sqlite' | 'postgres', kyselyDialect: Dialect, source: Source, walSync?: WalSync): Promise<KyselyMetadataStore> {
    const db = new Kysely<Database>({ dialect: kyselyDialect })
    const { error, results } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest()
    const failed = results?.find((result) => result.status === 'Error')
    if (error || failed) {
      await db.destroy()
      throw new Error(`Database migration failed${failed ? ` at ${failed.migrationName}` : ''}`, { cause: error })
    }
    return new KyselyMetadataStore(dialect, db, source, walSync)
  }

  /** PostgreSQL commits are durable when they return (synchronous_commit); SQLite's once the WAL is synced. */
  async syncCommitted(): Promise<void> {
    await this.walSync?.sync()
  }

  async snapshot(path: string): Promise<MetadataSnapshot> {
    if (this.source.kind === 'sqlite') return { format: 'sqlite', path, blobReferences: await this.snapshotSqlite(this.source.database, path) }
    return { format: 'pg_dump', path, blobReferences: await this.snapshotPostgres(this.source.url, path) }
  }

  async sizeBytes(): Promise<number | undefined> {
    if (this.source.kind === 'sqlite') {
      const { path } = this.source
      if (path === ':memory:') return undefined
      const sizes = await Promise.all(['', '-wal'].map((suffix) => stat(path + suffix).then((s) => s.size, () => 0)))
      return sizes.reduce((a, b) => a + b, 0)
    }
    const { rows } = await sql<{ bytes: string }>`select pg_database_size(current_database()) as bytes`.execute(this.db)
    return Number(rows[0]?.bytes)
  }

  /**
   * SQLite's online backup API into `path` (after a first step, the rest in one step, so that
   * writers from other processes cannot keep restarting it), then the references read from the copy.
   */
  private async snapshotSqlite(database: SqliteDatabase.Database, path: string): Promise<BlobReference[]> {
    closeSync(openSync(path, 'w', 0o640))
    await database.backup(path, { progress: ({ remainingPages }) => Math.max(100, remainingPages) })
    const copy = new SqliteDatabase(path)
    // A self-contained file: no -wal beside it to forget.
    copy.pragma('journal_mode = DELETE')
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: copy }) })
    try {
      return await collect(new KyselyBlobReferenceRepository(db).list())
    } finally {
      await db.destroy()
    }
  }

  /**
   * pg_dump inside a snapshot exported by a REPEATABLE READ transaction, which then lists the
   * references: dump and list see exactly the same committed state.
   */
  private async snapshotPostgres(url: string, path: string): Promise<BlobReference[]> {
    return this.db.connection().execute(async (connection) => {
      await sql`begin isolation level repeatable read read only`.execute(connection)
      try {
        const { rows } = await sql<{ id: string }>`select pg_export_snapshot() as id`.execute(connection)
        await runPgTool('pg_dump', url, ['--format=custom', '--no-owner', '--no-privileges', `--snapshot=${rows[0]!.id}`, `--file=${path}`])
        const references = await collect(new KyselyBlobReferenceRepository(connection).list())
        await sql`commit`.execute(connection)
        return references
      } catch (error) {
        await sql`rollback`.execute(connection).catch(() => {})
        throw error
      }
    })
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
