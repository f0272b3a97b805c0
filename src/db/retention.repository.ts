import type { Kysely, Selectable } from 'kysely'
import type { Database, RetentionPoliciesTable } from './database.js'
import { fileRowToStoredFile } from './file.repository.js'
import type { FileTotals, RetentionPolicy, RetentionRepository, StoredFile } from './metadata-store.js'

function policyRowToRecord(row: Selectable<RetentionPoliciesTable>): RetentionPolicy {
  return { userId: row.user_id, retentionMs: row.retention_ms === null ? undefined : Number(row.retention_ms), updatedAt: new Date(Number(row.updated_at)) }
}

export class KyselyRetentionRepository implements RetentionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async setPolicy(userId: string, retentionMs: number | null, at: Date): Promise<void> {
    await this.db
      .insertInto('retention_policies')
      .values({ user_id: userId, retention_ms: retentionMs, updated_at: at.getTime() })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ retention_ms: retentionMs, updated_at: at.getTime() }))
      .execute()
  }

  async clearPolicy(userId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('retention_policies').where('user_id', '=', userId).executeTakeFirst()
    return Number(result.numDeletedRows) > 0
  }

  async getPolicy(userId: string): Promise<RetentionPolicy | undefined> {
    const row = await this.db.selectFrom('retention_policies').selectAll().where('user_id', '=', userId).executeTakeFirst()
    return row && policyRowToRecord(row)
  }

  async listPolicies(): Promise<RetentionPolicy[]> {
    const rows = await this.db.selectFrom('retention_policies').selectAll().orderBy('user_id').execute()
    return rows.map(policyRowToRecord)
  }

  async findExpired(options: { now: Date; defaultRetentionMs: number | undefined; afterId?: string; limit: number }): Promise<StoredFile[]> {
    let select = this.expired(options).selectAll('files')
    if (options.afterId !== undefined) select = select.where('files.id', '>', options.afterId)
    const rows = await select.orderBy('files.id').limit(options.limit).execute()
    return rows.map(fileRowToStoredFile)
  }

  async countExpired(options: { now: Date; defaultRetentionMs: number | undefined }): Promise<FileTotals> {
    const row = await this.expired(options)
      .select((eb) => [eb.fn.countAll().as('files'), eb.fn.sum('files.size_bytes').as('bytes')])
      .executeTakeFirstOrThrow()
    return { files: Number(row.files ?? 0), bytes: Number(row.bytes ?? 0) }
  }

  /** Ready, unpinned files past their retention: the owner's own when set (null: never), else the default. */
  private expired(options: { now: Date; defaultRetentionMs: number | undefined }) {
    const now = options.now.getTime()
    const { defaultRetentionMs } = options
    return this.db
      .selectFrom('files')
      .leftJoin('retention_policies', 'retention_policies.user_id', 'files.user_id')
      .where('files.status', '=', 'ready')
      .where('files.pinned', '=', 0)
      .where((eb) => {
        const own = eb.and([
          eb('retention_policies.retention_ms', 'is not', null),
          eb(eb('files.uploaded_at', '+', eb.ref('retention_policies.retention_ms')), '<', now),
        ])
        if (defaultRetentionMs === undefined) return own
        return eb.or([own, eb.and([eb('retention_policies.user_id', 'is', null), eb('files.uploaded_at', '<', now - defaultRetentionMs)])])
      })
  }

  async markExpiredDeleting(id: string): Promise<StoredFile | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('files')
        .set({ status: 'deleting' })
        .where('id', '=', id)
        .where('status', '=', 'ready')
        .where('pinned', '=', 0)
        .returningAll()
        .executeTakeFirst()
      if (!row) return undefined
      const file = fileRowToStoredFile(row)
      // A hidden file no longer counts in its owner's usage, as with a user's own delete.
      await trx
        .updateTable('users')
        .set((eb) => ({ used_bytes: eb('used_bytes', '-', file.sizeBytes), used_files: eb('used_files', '-', 1) }))
        .where('id', '=', file.userId)
        .execute()
      return file
    })
  }
}
