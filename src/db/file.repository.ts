import type { Kysely, Selectable } from 'kysely'
import type { Database, FilesTable } from './database.js'
import { insertPendingExtraction } from './extraction.repository.js'
import { KyselyJobQueue } from './job-queue.repository.js'
import type { AbandonedFile, FileRepository, ListFilesQuery, MarkReadyOptions, NewPendingFile, StoredFile } from './metadata-store.js'

export function fileRowToStoredFile(row: Selectable<FilesTable>): StoredFile {
  return {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    originalName: row.original_name,
    kind: row.kind,
    mimeType: row.mime_type,
    blobKey: row.blob_key,
    sizeBytes: Number(row.size_bytes ?? 0),
    sha256: row.sha256 ?? '',
    uploadedAt: new Date(Number(row.uploaded_at ?? row.created_at)),
  }
}

export class KyselyFileRepository implements FileRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: 'sqlite' | 'postgres' = 'sqlite',
  ) {}

  async insertPending(file: NewPendingFile): Promise<void> {
    await this.db
      .insertInto('files')
      .values({
        id: file.id,
        user_id: file.userId,
        status: 'pending',
        original_name: file.originalName,
        kind: file.kind,
        mime_type: file.mimeType,
        blob_key: file.blobKey,
        size_bytes: null,
        sha256: null,
        created_at: file.createdAt.getTime(),
        uploaded_at: null,
      })
      .execute()
  }

  async markReady(id: string, stored: { sizeBytes: number; sha256: string; uploadedAt: Date }, options?: MarkReadyOptions): Promise<StoredFile> {
    const job = options?.extractionJob
    if (!job) return this.markReadyIn(this.db, id, stored)
    return this.db.transaction().execute(async (trx) => {
      const file = await this.markReadyIn(trx, id, stored)
      const jobId = await new KyselyJobQueue(trx, this.dialect).enqueue(job)
      const row = { fileId: id, userId: file.userId, name: file.originalName, jobId, now: stored.uploadedAt.getTime() }
      await insertPendingExtraction(trx, row)
      return file
    })
  }

  private async markReadyIn(db: Kysely<Database>, id: string, stored: { sizeBytes: number; sha256: string; uploadedAt: Date }): Promise<StoredFile> {
    const row = await db
      .updateTable('files')
      .set({ status: 'ready', size_bytes: stored.sizeBytes, sha256: stored.sha256, uploaded_at: stored.uploadedAt.getTime() })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst()
    if (!row) throw new Error(`Upload ${id} is no longer pending`)
    return fileRowToStoredFile(row)
  }

  async findReady(id: string): Promise<StoredFile | undefined> {
    const row = await this.db
      .selectFrom('files')
      .selectAll()
      .where('id', '=', id)
      .where('status', '=', 'ready')
      .executeTakeFirst()
    return row && fileRowToStoredFile(row)
  }

  async listReady(userId: string, query: ListFilesQuery): Promise<StoredFile[]> {
    let select = this.db
      .selectFrom('files')
      .selectAll()
      .where('user_id', '=', userId)
      .where('status', '=', 'ready')
    if (query.kinds) select = select.where('kind', 'in', query.kinds.length > 0 ? [...query.kinds] : [''])
    const after = query.after
    if (after) {
      select = select.where((eb) =>
        eb.or([
          eb('uploaded_at', '<', after.uploadedAtMs),
          eb.and([eb('uploaded_at', '=', after.uploadedAtMs), eb('id', '<', after.id)]),
        ]),
      )
    }
    const rows = await select.orderBy('uploaded_at', 'desc').orderBy('id', 'desc').limit(query.limit).execute()
    return rows.map(fileRowToStoredFile)
  }

  async markDeleting(id: string, userId: string): Promise<StoredFile | undefined> {
    const row = await this.db
      .updateTable('files')
      .set({ status: 'deleting' })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('status', '=', 'ready')
      .returningAll()
      .executeTakeFirst()
    return row && fileRowToStoredFile(row)
  }

  async remove(id: string): Promise<void> {
    await this.db.deleteFrom('files').where('id', '=', id).execute()
  }

  async findAbandoned(options: { pendingCreatedBefore: Date; limit: number }): Promise<AbandonedFile[]> {
    const rows = await this.db
      .selectFrom('files')
      .select(['id', 'blob_key', 'status'])
      .where((eb) =>
        eb.or([
          eb('status', '=', 'deleting'),
          eb.and([eb('status', '=', 'pending'), eb('created_at', '<', options.pendingCreatedBefore.getTime())]),
        ]),
      )
      .limit(options.limit)
      .execute()
    return rows.map((row) => ({ id: row.id, blobKey: row.blob_key, status: row.status }))
  }

  async listAllReady(options: { afterId?: string; limit: number }): Promise<StoredFile[]> {
    let select = this.db.selectFrom('files').selectAll().where('status', '=', 'ready')
    if (options.afterId !== undefined) select = select.where('id', '>', options.afterId)
    const rows = await select.orderBy('id').limit(options.limit).execute()
    return rows.map(fileRowToStoredFile)
  }

  async importReady(file: StoredFile): Promise<boolean> {
    const result = await this.db
      .insertInto('files')
      .values({
        id: file.id,
        user_id: file.userId,
        status: 'ready',
        original_name: file.originalName,
        kind: file.kind,
        mime_type: file.mimeType,
        blob_key: file.blobKey,
        size_bytes: file.sizeBytes,
        sha256: file.sha256,
        created_at: file.uploadedAt.getTime(),
        uploaded_at: file.uploadedAt.getTime(),
      })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .executeTakeFirst()
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0
  }
}
