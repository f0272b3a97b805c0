import type { Kysely, Selectable } from 'kysely'
import type { Database, DerivedBlobsTable } from './database.js'
import type { DerivedBlob, DerivedBlobRepository } from './metadata-store.js'

function rowToDerivedBlob(row: Selectable<DerivedBlobsTable>): DerivedBlob {
  return {
    blobKey: row.blob_key,
    fileId: row.file_id,
    kind: row.kind,
    variant: row.variant,
    sizeBytes: row.size_bytes === null ? undefined : Number(row.size_bytes),
    sha256: row.sha256 ?? undefined,
    createdAt: new Date(Number(row.created_at)),
  }
}

export class KyselyDerivedBlobRepository implements DerivedBlobRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async begin(blob: { blobKey: string; fileId: string; kind: string; variant: string; createdAt: Date }): Promise<boolean> {
    // One statement, so a delete that hides the file either comes first (nothing recorded) or sees the row.
    const result = await this.db
      .insertInto('derived_blobs')
      .columns(['blob_key', 'file_id', 'kind', 'variant', 'size_bytes', 'sha256', 'created_at'])
      .expression((eb) =>
        eb
          .selectFrom('files')
          .select([
            eb.val(blob.blobKey).as('blob_key'),
            'files.id',
            eb.val(blob.kind).as('kind'),
            eb.val(blob.variant).as('variant'),
            eb.val(null).as('size_bytes'),
            eb.val(null).as('sha256'),
            eb.val(blob.createdAt.getTime()).as('created_at'),
          ])
          .where('files.id', '=', blob.fileId)
          .where('files.status', '=', 'ready'),
      )
      .onConflict((oc) => oc.column('blob_key').doUpdateSet({ size_bytes: null, sha256: null, created_at: blob.createdAt.getTime() }))
      .executeTakeFirst()
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0
  }

  async complete(blobKey: string, written: { sizeBytes: number; sha256: string }): Promise<boolean> {
    const result = await this.db
      .updateTable('derived_blobs')
      .set({ size_bytes: written.sizeBytes, sha256: written.sha256 })
      .where('blob_key', '=', blobKey)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async find(blobKey: string): Promise<DerivedBlob | undefined> {
    const row = await this.db.selectFrom('derived_blobs').selectAll().where('blob_key', '=', blobKey).executeTakeFirst()
    return row && rowToDerivedBlob(row)
  }

  async listForFile(fileId: string): Promise<DerivedBlob[]> {
    const rows = await this.db.selectFrom('derived_blobs').selectAll().where('file_id', '=', fileId).orderBy('blob_key').execute()
    return rows.map(rowToDerivedBlob)
  }

  async remove(blobKey: string): Promise<void> {
    await this.db.deleteFrom('derived_blobs').where('blob_key', '=', blobKey).execute()
  }
}
