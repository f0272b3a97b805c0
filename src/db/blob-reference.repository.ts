import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import type { BlobReference, BlobReferenceRepository } from './metadata-store.js'
import { keysetPages } from '../keyset-pages.js'

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
  private fileBlobs(): AsyncIterable<BlobReference> {
    return rowsOf(
      (afterId) => {
        let select = this.db.selectFrom('files').select(['id', 'blob_key', 'status', 'size_bytes', 'sha256'])
        if (afterId !== undefined) select = select.where('id', '>', afterId)
        return select.orderBy('id').limit(PAGE).execute()
      },
      (row) => row.id,
      (row) => ({ key: row.blob_key, fileId: row.id, fileStatus: row.status, role: 'file', ...checkable(row) }),
    )
  }

  /**
   * Every derived blob with its file's status. Its size and SHA-256 are known only once it was
   * completely written; until then (null in the row) there is nothing to check it against.
   */
  private derivedBlobs(): AsyncIterable<BlobReference> {
    return rowsOf(
      (afterKey) => {
        let select = this.db
          .selectFrom('derived_blobs')
          .innerJoin('files', 'files.id', 'derived_blobs.file_id')
          .select(['derived_blobs.blob_key', 'derived_blobs.file_id', 'derived_blobs.kind', 'derived_blobs.size_bytes', 'derived_blobs.sha256', 'files.status'])
        if (afterKey !== undefined) select = select.where('derived_blobs.blob_key', '>', afterKey)
        return select.orderBy('derived_blobs.blob_key').limit(PAGE).execute()
      },
      (row) => row.blob_key,
      (row) => ({ key: row.blob_key, fileId: row.file_id, fileStatus: row.status, role: row.kind, ...checkable(row) }),
    )
  }
}

/** A row's size and SHA-256 to check its blob against; undefined where the row has none yet. */
function checkable(row: { size_bytes: number | string | bigint | null; sha256: string | null }): Pick<BlobReference, 'sizeBytes' | 'sha256'> {
  return { sizeBytes: row.size_bytes === null ? undefined : Number(row.size_bytes), sha256: row.sha256 ?? undefined }
}

/** The rows of a keyset-paged query, `PAGE` at a time, as items. */
async function* rowsOf<Row, Item>(page: (after: string | undefined) => Promise<Row[]>, keyOf: (row: Row) => string, toItem: (row: Row) => Item): AsyncIterable<Item> {
  for await (const rows of keysetPages(PAGE, page, keyOf)) for (const row of rows) yield toItem(row)
}
