import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect } from 'kysely'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { KyselyMetadataStore } from '../../src/db/kysely-metadata-store.js'
import { MIGRATIONS } from '../../src/db/migrations/index.js'
import { describeMetadataStore } from './metadata-store.js'

async function makeDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'cabinet-sqlite-'))
}

describeMetadataStore('KyselyMetadataStore on SQLite', async () => {
  const dir = await makeDir()
  const store = await KyselyMetadataStore.openSqlite(join(dir, 'cabinet.db'))
  return { store, jobs: store.jobs, cleanup: () => rm(dir, { recursive: true, force: true }) }
})

describe('KyselyMetadataStore.openSqlite on disk', () => {
  let dir: string
  let previousUmask: number

  beforeEach(async () => {
    dir = await makeDir()
    previousUmask = process.umask(0o022)
  })

  afterEach(async () => {
    process.umask(previousUmask)
    await rm(dir, { recursive: true, force: true })
  })

  const modeOf = async (path: string) => ((await stat(path)).mode & 0o777).toString(8)

  it('creates the database file, and its WAL, with mode 0640 in a new 0750 folder', async () => {
    const path = join(dir, 'nested', 'cabinet.db')
    const store = await KyselyMetadataStore.openSqlite(path)
    try {
      expect(store.dialect).toBe('sqlite')
      await store.tokens.insert({
        id: '0123456789abcdef',
        userId: 'alice',
        secretHash: 'ab'.repeat(32),
        createdAt: new Date(),
        expiresAt: undefined,
        revokedAt: undefined,
        admin: false,
      })
      expect(await modeOf(path)).toBe('640')
      expect(await modeOf(`${path}-wal`)).toBe('640')
      expect(await modeOf(join(dir, 'nested'))).toBe('750')
    } finally {
      await store.close()
    }
  })

  it('keeps its data across close and reopen (migrations run once)', async () => {
    const path = join(dir, 'cabinet.db')
    const first = await KyselyMetadataStore.openSqlite(path)
    await first.files.insertPending({
      id: 'a'.repeat(32),
      userId: 'alice',
      originalName: '报告.pdf',
      kind: 'pdf',
      mimeType: 'application/pdf',
      blobKey: 'aa/aa/' + 'a'.repeat(32),
      createdAt: new Date(1_000),
    })
    await first.files.markReady('a'.repeat(32), { sizeBytes: 5, sha256: 'ab'.repeat(32), uploadedAt: new Date(2_000) })
    await first.close()

    const second = await KyselyMetadataStore.openSqlite(path)
    try {
      expect((await second.files.findReady('a'.repeat(32)))?.originalName).toBe('报告.pdf')
    } finally {
      await second.close()
    }
  })
})

describe('migration 0004 on an existing install', () => {
  it('starts every user\'s usage from the ready files they already have', async () => {
    const dir = await makeDir()
    try {
      const path = join(dir, 'cabinet.db')
      const db = new Kysely<Record<string, never>>({ dialect: new SqliteDialect({ database: new SqliteDatabase(path) }) })
      const before = Object.fromEntries(Object.entries(MIGRATIONS).filter(([name]) => name < '0004'))
      await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest()
      const row = (id: string, user: string, status: string, size: number) =>
        ({ id, user_id: user, status, original_name: 'a.png', kind: 'png', mime_type: 'image/png', blob_key: id, size_bytes: size, sha256: 'ab'.repeat(32), created_at: 1, uploaded_at: 1 })
      await (db as unknown as Kysely<{ files: ReturnType<typeof row> }>)
        .insertInto('files')
        .values([row('a'.repeat(32), 'alice', 'ready', 10), row('b'.repeat(32), 'alice', 'ready', 5), row('c'.repeat(32), 'alice', 'pending', 99), row('d'.repeat(32), 'bob', 'deleting', 7)])
        .execute()
      await db.destroy()

      const store = await KyselyMetadataStore.openSqlite(path)
      try {
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 15, usedFiles: 2 })
        expect(await store.users.usage('bob')).toMatchObject({ usedBytes: 0, usedFiles: 0 })
      } finally {
        await store.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
