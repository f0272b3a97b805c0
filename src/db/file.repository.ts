import type { Kysely, Selectable, Transaction } from 'kysely'
import type { Database, FilesTable } from './database.js'
import { insertPendingExtraction } from './extraction.repository.js'
import { KyselyJobQueue } from './job-queue.repository.js'
import { precompile } from './precompiled.js'
import {
  QuotaExceededError,
  type AbandonedFile,
  type FileRepository,
  type ListFilesQuery,
  type MarkReadyOptions,
  type NewPendingFile,
  type QuotaLimits,
  type StoredFile,
} from './metadata-store.js'
import { readUsage } from './user.repository.js'

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
    pinned: Number(row.pinned) === 1,
  }
}

// The statements of every upload and download, compiled once (see precompile).
const FIND_READY = precompile(['id'], (db: Kysely<Database>, id) => db.selectFrom('files').selectAll().where('id', '=', id).where('status', '=', 'ready'))
const INSERT_PENDING = precompile(
  ['id', 'userId', 'originalName', 'kind', 'mimeType', 'blobKey', 'createdAt'],
  (db: Kysely<Database>, id, userId, originalName, kind, mimeType, blobKey, createdAt) =>
    db.insertInto('files').values({
      id,
      user_id: userId,
      status: 'pending',
      original_name: originalName,
      kind,
      mime_type: mimeType,
      blob_key: blobKey,
      size_bytes: null,
      sha256: null,
      created_at: createdAt,
      uploaded_at: null,
    }),
)
const MARK_READY = precompile(['id', 'sizeBytes', 'sha256', 'uploadedAt'], (db: Kysely<Database>, id, sizeBytes, sha256, uploadedAt) =>
  db
    .updateTable('files')
    .set({ status: 'ready', size_bytes: sizeBytes, sha256, uploaded_at: uploadedAt })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .returningAll(),
)
const addUsage = (db: Kysely<Database>, userId: never, sizeBytes: never) =>
  db
    .updateTable('users')
    .set((eb) => ({ used_bytes: eb('used_bytes', '+', sizeBytes), used_files: eb('used_files', '+', 1) }))
    .where('id', '=', userId)
const CHARGE_USAGE = precompile(['userId', 'sizeBytes'], addUsage)
const CHARGE_USAGE_WITHIN = precompile(['userId', 'sizeBytes', 'maxBytes', 'maxFiles'], (db: Kysely<Database>, userId, sizeBytes, maxBytes, maxFiles) =>
  addUsage(db, userId, sizeBytes)
    .where((eb) => eb(eb('used_bytes', '+', sizeBytes), '<=', eb.fn.coalesce('max_bytes', eb.val(maxBytes))))
    .where((eb) => eb(eb('used_files', '+', 1), '<=', eb.fn.coalesce('max_files', eb.val(maxFiles)))),
)

export class KyselyFileRepository implements FileRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: 'sqlite' | 'postgres' = 'sqlite',
  ) {}

  async insertPending(file: NewPendingFile): Promise<void> {
    await this.db.executeQuery(
      INSERT_PENDING(this.db, file.id, file.userId, file.originalName, file.kind, file.mimeType, file.blobKey, file.createdAt.getTime()),
    )
  }

  async markReady(id: string, stored: { sizeBytes: number; sha256: string; uploadedAt: Date }, options: MarkReadyOptions = {}): Promise<StoredFile> {
    return this.db.transaction().execute(async (trx) => {
      const [row] = (await trx.executeQuery(MARK_READY(trx, id, stored.sizeBytes, stored.sha256, stored.uploadedAt.getTime()))).rows
      if (!row) throw new Error(`Upload ${id} is no longer pending`)
      await chargeUsage(trx, row.user_id, stored.sizeBytes, options.quota, stored.uploadedAt)
      const file = fileRowToStoredFile(row)
      const job = options.extractionJob
      if (job) {
        const jobId = await new KyselyJobQueue(trx, this.dialect).enqueue(job)
        await insertPendingExtraction(trx, { fileId: id, userId: file.userId, name: file.originalName, jobId, now: stored.uploadedAt.getTime() })
      }
      return file
    })
  }

  async findReady(id: string): Promise<StoredFile | undefined> {
    const [row] = (await this.db.executeQuery(FIND_READY(this.db, id))).rows
    return row && fileRowToStoredFile(row)
  }

  async listReady(userId: string, query: ListFilesQuery): Promise<StoredFile[]> {
    let select = this.db
      .selectFrom('files')
      .selectAll()
      .where('status', '=', 'ready')
    const grantedTo = query.grantedTo
    select = query.allUsers
      ? select
      : grantedTo
      ? select.where((eb) =>
          eb.or([
            eb('user_id', '=', userId),
            eb(
              'id',
              'in',
              eb
                .selectFrom('file_grants')
                .select('file_grants.file_id')
                .where('file_grants.key_id', '=', grantedTo.keyId)
                .where('file_grants.revoked_at', 'is', null)
                .where('file_grants.expires_at', '>', grantedTo.at.getTime()),
            ),
          ]),
        )
      : select.where('user_id', '=', userId)
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
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('files')
        .set({ status: 'deleting' })
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .where('status', '=', 'ready')
        .returningAll()
        .executeTakeFirst()
      if (!row) return undefined
      const file = fileRowToStoredFile(row)
      await trx
        .updateTable('users')
        .set((eb) => ({ used_bytes: eb('used_bytes', '-', file.sizeBytes), used_files: eb('used_files', '-', 1) }))
        .where('id', '=', userId)
        .execute()
      return file
    })
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
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
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
          pinned: file.pinned ? 1 : 0,
        })
        .onConflict((conflict) => conflict.column('id').doNothing())
        .executeTakeFirst()
      const inserted = Number(result.numInsertedOrUpdatedRows ?? 0) > 0
      if (inserted) await chargeUsage(trx, file.userId, file.sizeBytes, undefined, file.uploadedAt)
      return inserted
    })
  }

  async setPinned(id: string, userId: string, pinned: boolean): Promise<StoredFile | undefined> {
    const row = await this.db
      .updateTable('files')
      .set({ pinned: pinned ? 1 : 0 })
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .where('status', '=', 'ready')
      .returningAll()
      .executeTakeFirst()
    return row && fileRowToStoredFile(row)
  }
}

/**
 * Adds one file of `sizeBytes` to the user's usage, only while it stays within the user's limits
 * (their own, else `quota`; no check without `quota`). The conditional UPDATE is atomic: PostgreSQL
 * re-checks it under the row lock, SQLite runs one writer at a time.
 */
async function chargeUsage(trx: Transaction<Database>, userId: string, sizeBytes: number, quota: QuotaLimits | undefined, at: Date): Promise<void> {
  const charge = async () => {
    const query = quota ? CHARGE_USAGE_WITHIN(trx, userId, sizeBytes, quota.maxBytes, quota.maxFiles) : CHARGE_USAGE(trx, userId, sizeBytes)
    return { numUpdatedRows: (await trx.executeQuery(query)).numAffectedRows ?? 0n }
  }
  if (Number((await charge()).numUpdatedRows) > 0) return
  // No row yet (the user's first file), or over a limit: create the row if missing and try once more.
  await trx
    .insertInto('users')
    .values({ id: userId, created_at: at.getTime(), used_bytes: 0, used_files: 0, max_bytes: null, max_files: null })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .execute()
  if (Number((await charge()).numUpdatedRows) > 0) return
  const usage = await readUsage(trx, userId)
  throw new QuotaExceededError(
    usage,
    { maxBytes: usage.maxBytes ?? quota!.maxBytes, maxFiles: usage.maxFiles ?? quota!.maxFiles },
    sizeBytes,
  )
}
