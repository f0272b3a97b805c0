import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect, sql, type Dialect, type MigrationProvider } from 'kysely'
import type { Database } from './database.js'
import { KyselyFileRepository } from './file.repository.js'
import type { MetadataStore } from './metadata-store.js'
import { MIGRATIONS } from './migrations/index.js'
import { KyselyTokenRepository } from './token.repository.js'

const migrationProvider: MigrationProvider = { getMigrations: async () => ({ ...MIGRATIONS }) }

/** The metadata store on any SQL database Kysely speaks; migrations run on open. */
export class KyselyMetadataStore implements MetadataStore {
  readonly files: KyselyFileRepository
  readonly tokens: KyselyTokenRepository

  private constructor(
    readonly dialect: 'sqlite' | 'postgres',
    readonly db: Kysely<Database>,
  ) {
    this.files = new KyselyFileRepository(db)
    this.tokens = new KyselyTokenRepository(db)
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
