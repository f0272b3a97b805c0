import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import { fileRowToStoredFile } from './file.repository.js'
import type { FileTotals, StatsRepository, StoredFile } from './metadata-store.js'

// pg returns count() and sum() as strings; SQLite as numbers.
const toNumber = (value: unknown): number => Number(value ?? 0)

export class KyselyStatsRepository implements StatsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async totals(): Promise<FileTotals & { pinned: number; users: number }> {
    const row = await this.db
      .selectFrom('files')
      .select((eb) => [
        eb.fn.countAll().as('files'),
        eb.fn.sum('size_bytes').as('bytes'),
        eb.fn.sum('pinned').as('pinned'),
        eb.fn.count('user_id').distinct().as('users'),
      ])
      .where('status', '=', 'ready')
      .executeTakeFirstOrThrow()
    return { files: toNumber(row.files), bytes: toNumber(row.bytes), pinned: toNumber(row.pinned), users: toNumber(row.users) }
  }

  async byKind(): Promise<Array<FileTotals & { kind: string }>> {
    const rows = await this.db
      .selectFrom('files')
      .select((eb) => ['kind', eb.fn.countAll().as('files'), eb.fn.sum('size_bytes').as('bytes')])
      .where('status', '=', 'ready')
      .groupBy('kind')
      .orderBy('kind')
      .execute()
    return rows.map((row) => ({ kind: row.kind, files: toNumber(row.files), bytes: toNumber(row.bytes) }))
  }

  async topUsers(limit: number): Promise<Array<FileTotals & { userId: string }>> {
    const rows = await this.db
      .selectFrom('files')
      .select((eb) => ['user_id', eb.fn.countAll().as('files'), eb.fn.sum('size_bytes').as('bytes')])
      .where('status', '=', 'ready')
      .groupBy('user_id')
      .orderBy('bytes', 'desc')
      .orderBy('user_id')
      .limit(limit)
      .execute()
    return rows.map((row) => ({ userId: row.user_id, files: toNumber(row.files), bytes: toNumber(row.bytes) }))
  }

  async largest(limit: number): Promise<StoredFile[]> {
    const rows = await this.db
      .selectFrom('files')
      .selectAll()
      .where('status', '=', 'ready')
      .orderBy('size_bytes', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute()
    return rows.map(fileRowToStoredFile)
  }
}
