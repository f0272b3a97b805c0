import { open, type FileHandle } from 'node:fs/promises'
import type { Database as BetterSqliteDatabase } from 'better-sqlite3'
import type { SqliteDatabase, SqliteStatement } from 'kysely'

/**
 * Group commit for SQLite in WAL mode with `synchronous=NORMAL`: commits return without an fsync
 * (so they never block the event loop on the disk), and `sync()` makes every commit made before
 * the call durable with one fdatasync of the WAL in the threadpool, shared by all concurrent
 * callers. Together they give `synchronous=FULL`'s guarantee to whoever awaits `sync()`.
 */
export class WalSync {
  private running: Promise<void> | undefined
  private queued: Promise<void> | undefined
  private wal: FileHandle | undefined

  constructor(private readonly walPath: string) {}

  sync(): Promise<void> {
    if (!this.running) return (this.running = this.syncOnce())
    // The sync in flight may have started before the caller's commit: the next one covers it.
    return (this.queued ??= this.running
      .catch(() => {})
      .then(() => {
        this.queued = undefined
        return (this.running ??= this.syncOnce())
      }))
  }

  async close(): Promise<void> {
    await this.queued?.catch(() => {})
    await this.running?.catch(() => {})
    await this.wal?.close()
    this.wal = undefined
  }

  private async syncOnce(): Promise<void> {
    try {
      // SQLite keeps the WAL file (same inode) for as long as this process holds a connection.
      this.wal ??= await open(this.walPath, 'r')
      await this.wal.datasync()
    } catch (error) {
      // No WAL yet means nothing was committed through it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    } finally {
      this.running = undefined
    }
  }
}

/**
 * The database as Kysely's SqliteDialect sees it, reusing prepared statements: Kysely prepares
 * every query anew, which costs more than running the small queries Cabinet sends.
 */
export function withStatementCache(database: BetterSqliteDatabase, maxStatements = 200): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>()
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql)
      if (statement) {
        // Most recently used last, so the first key is the one to evict.
        statements.delete(sql)
      } else {
        statement = database.prepare(sql)
        if (statements.size >= maxStatements) statements.delete(statements.keys().next().value!)
      }
      statements.set(sql, statement)
      return statement
    },
  }
}
