import { open, type FileHandle } from 'node:fs/promises'
import type { Database as BetterSqliteDatabase } from 'better-sqlite3'
import type { SqliteDatabase, SqliteStatement } from 'kysely'

/**
 * Group commit: `sync()` resolves once a run of `flush` that started after the call has finished,
 * and callers arriving while a flush runs share the next one. So N concurrent callers cost at most
 * two flushes, and nobody is told "durable" by a flush that began before their own write.
 */
export class GroupSync {
  private running: Promise<void> | undefined
  private queued: Promise<void> | undefined

  constructor(private readonly flush: () => Promise<void>) {}

  sync(): Promise<void> {
    if (!this.running) return (this.running = this.flushOnce())
    return (this.queued ??= this.running
      .catch(() => {})
      .then(() => {
        this.queued = undefined
        return (this.running ??= this.flushOnce())
      }))
  }

  /** Waits for the flushes already asked for. */
  async settle(): Promise<void> {
    await this.queued?.catch(() => {})
    await this.running?.catch(() => {})
  }

  private async flushOnce(): Promise<void> {
    try {
      await this.flush()
    } finally {
      this.running = undefined
    }
  }
}

/**
 * Makes SQLite's WAL durable with one fdatasync in the threadpool. With `synchronous=NORMAL`
 * commits return without syncing (so they never block the event loop on the disk); a sync of the
 * WAL after them gives the guarantee of `synchronous=FULL`.
 */
export class WalSync {
  private readonly group = new GroupSync(() => this.datasync())
  private wal: FileHandle | undefined

  constructor(private readonly walPath: string) {}

  sync(): Promise<void> {
    return this.group.sync()
  }

  async close(): Promise<void> {
    await this.group.settle()
    await this.wal?.close()
    this.wal = undefined
  }

  private async datasync(): Promise<void> {
    try {
      // SQLite keeps the WAL file (same inode) for as long as this process holds a connection.
      this.wal ??= await open(this.walPath, 'r')
      await this.wal.datasync()
    } catch (error) {
      // No WAL yet means nothing was committed through it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
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
