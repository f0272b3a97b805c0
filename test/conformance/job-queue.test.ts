import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type CompiledQuery } from 'kysely'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
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

describe('claims on SQLite with a backlog', () => {
  it('read the first due job of each kind off the index instead of sorting every waiting job', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cabinet-jobs-'))
    const database = new SqliteDatabase(join(dir, 'cabinet.db'))
    const queries: CompiledQuery[] = []
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }), log: (event) => void queries.push(event.query) })
    try {
      await migrate(db)
      const queue = new KyselyJobQueue(db, 'sqlite')
      const kinds = ['thumbnail', 'backup', 'retention']
      const insert = database.prepare(
        `insert into jobs (id, kind, payload, state, run_at, attempts, max_attempts, created_at, updated_at)
         values (?, ?, '{}', 'queued', ?, 0, 3, ?, ?)`,
      )
      database.transaction(() => {
        for (let i = 0; i < 3_000; i++) insert.run(`job-${i}`, kinds[i % 3], 3_000 - i, i, i)
      })()

      queries.length = 0
      expect((await queue.claim({ kinds, workerId: 'w1', leaseMs: 1_000 }))?.id).toBe('job-2999')
      const claim = queries.find((query) => query.sql.startsWith('update "jobs"') && query.sql.includes('"attempts" = "attempts" +'))
      expect(claim).toBeDefined()
      const plan = (database.prepare(`explain query plan ${claim!.sql}`).all(...claim!.parameters) as { detail: string }[]).map((row) => row.detail)
      // Every read of the jobs table seeks an index; the only sorts are of the few candidates and running jobs.
      expect(plan.filter((step) => /\bjobs\b/.test(step))).toEqual(expect.arrayContaining([expect.stringMatching(/^SEARCH jobs USING COVERING INDEX jobs_claim_order/)]))
      expect(plan.filter((step) => /^SCAN jobs/.test(step))).toEqual([])
      expect(plan.filter((step) => step.includes('TEMP B-TREE')).length).toBeLessThanOrEqual(2)
    } finally {
      await db.destroy()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('claims on PostgreSQL while other claimers hold jobs', () => {
  it('lock only the job taken, and skip to the next due job of any kind past those held', async () => {
    const database = await freshPostgresDatabase()
    const { db, close } = openPostgres(database.url)
    const holder = new pg.Client({ connectionString: database.url })
    try {
      await migrate(db)
      await holder.connect()
      let nowMs = Date.UTC(2025, 0, 15)
      const queue = new KyselyJobQueue(db, 'postgres', { now: () => nowMs })
      const enqueue = async (kind: string) => {
        nowMs += 1
        return queue.enqueue({ kind, payload: {}, runAt: new Date(nowMs) })
      }
      const claim = async (kinds: string[]) => (await queue.claim({ kinds, workerId: 'w', leaseMs: 60_000 }))?.id
      /** Holds the rows as a claimer does mid-statement, until the returned release. */
      const hold = async (ids: string[]) => {
        await holder.query('begin')
        await holder.query('select id from jobs where id = any($1) for update', [ids])
        return () => holder.query('rollback')
      }

      // A claim whose transaction is still open holds the job it took and no other: the next claimer gets the other kind.
      const x1 = await enqueue('x')
      const y1 = await enqueue('y')
      const open = await db.startTransaction().execute()
      try {
        expect((await new KyselyJobQueue(open, 'postgres', { now: () => nowMs }).claim({ kinds: ['x', 'y'], workerId: 'a', leaseMs: 60_000 }))?.id).toBe(x1)
        expect(await claim(['x', 'y'])).toBe(y1)
      } finally {
        await open.rollback().execute()
      }
      expect(await claim(['x', 'y'])).toBe(x1)

      // Past every candidate a claim reads (16 per kind) being held, the full ordered scan still finds the next.
      const queued = []
      for (let i = 0; i < 18; i++) queued.push(await enqueue('x'))
      let release = await hold([queued[0]!])
      expect(await claim(['x'])).toBe(queued[1])
      await release()
      release = await hold(queued.slice(0, 17))
      expect(await claim(['x'])).toBe(queued[17])
      await release()
      expect(await claim(['x'])).toBe(queued[0])
    } finally {
      await holder.end()
      await close()
      await database.drop()
    }
  })
})
