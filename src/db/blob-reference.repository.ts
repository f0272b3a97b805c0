import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import type { BlobReference, BlobReferenceRepository } from './metadata-store.js'

const PAGE = 500

/**
 * The blobs the metadata references. Today: each file's own blob. A table that adds blobs
 * tied to a file (issue 5's thumbnails) adds them to `list`, `referenced` and `ownedBy` here.
 */
export class KyselyBlobReferenceRepository implements BlobReferenceRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async *list(): AsyncIterable<BlobReference> {
    yield* this.fileBlobs()
  }

  async referenced(keys: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>()
    for (let i = 0; i < keys.length; i += PAGE) {
      const page = keys.slice(i, i + PAGE)
      const rows = await this.db.selectFrom('files').select('blob_key').where('blob_key', 'in', page).execute()
      for (const row of rows) found.add(row.blob_key)
    }
    return found
  }

  async ownedBy(file: { readonly id: string; readonly blobKey: string }): Promise<string[]> {
    return [file.blobKey]
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
}
