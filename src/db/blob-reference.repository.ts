import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import type { BlobReference, BlobReferenceRepository } from './metadata-store.js'

const PAGE = 500

/**
 * The blobs the metadata references: each file's own blob and the blobs derived from it
 * (thumbnails, in `derived_blobs`). A table that adds blobs tied to a file adds them to `list`,
 * `referenced` and `ownedBy` here.
 */
export class KyselyBlobReferenceRepository implements BlobReferenceRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async *list(): AsyncIterable<BlobReference> {
    yield* this.fileBlobs()
    yield* this.derivedBlobs()
  }

  async referenced(keys: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>()
    for (let i = 0; i < keys.length; i += PAGE) {
      const page = keys.slice(i, i + PAGE)
      const rows = await this.db
        .selectFrom('files')
        .select('blob_key')
        .where('blob_key', 'in', page)
        .unionAll(this.db.selectFrom('derived_blobs').select('blob_key').where('blob_key', 'in', page))
        .execute()
      for (const row of rows) found.add(row.blob_key)
    }
    return found
  }

  async ownedBy(file: { readonly id: string; readonly blobKey: string }): Promise<string[]> {
    const derived = await this.db.selectFrom('derived_blobs').select('blob_key').where('file_id', '=', file.id).orderBy('blob_key').execute()
    return [file.blobKey, ...derived.map((row) => row.blob_key)]
  }

  /** Every file's own blob, paged by id so that a large table is never read at once. */
  private async *fileBlobs(): AsyncIterable<BlobReference> {
    for (let afterId: string | undefined; ; ) {
      let select = this.db.selectFrom('files').select(['id', 'blob_key', 'status', 'size_bytes', 'sha256'])
      if (afterId !== undefined) select = select.where('id', '>', afterId)
      const rows = await select.orderBy('id').limit(PAGE).execute()
      for (const row of rows) {
        yield {
          key: row.blob_key,
          fileId: row.id,
          fileStatus: row.status,
          role: 'file',
          sizeBytes: row.size_bytes === null ? undefined : Number(row.size_bytes),
          sha256: row.sha256 ?? undefined,
        }
      }
      if (rows.length < PAGE) return
      afterId = rows.at(-1)!.id
    }
  }

  /**
   * Every derived blob with its file's status. Its size and SHA-256 are known only once it was
   * completely written; until then (null in the row) there is nothing to check it against.
   */
  private async *derivedBlobs(): AsyncIterable<BlobReference> {
    for (let afterKey: string | undefined; ; ) {
      let select = this.db
        .selectFrom('derived_blobs')
        .innerJoin('files', 'files.id', 'derived_blobs.file_id')
        .select(['derived_blobs.blob_key', 'derived_blobs.file_id', 'derived_blobs.kind', 'derived_blobs.size_bytes', 'derived_blobs.sha256', 'files.status'])
      if (afterKey !== undefined) select = select.where('derived_blobs.blob_key', '>', afterKey)
      const rows = await select.orderBy('derived_blobs.blob_key').limit(PAGE).execute()
      for (const row of rows) {
        yield {
          key: row.blob_key,
          fileId: row.file_id,
          fileStatus: row.status,
          role: row.kind,
          sizeBytes: row.size_bytes === null ? undefined : Number(row.size_bytes),
          sha256: row.sha256 ?? undefined,
        }
      }
      if (rows.length < PAGE) return
      afterKey = rows.at(-1)!.blob_key
    }
  }
}
