import type { Kysely, Selectable } from 'kysely'
import type { Database, FileGrantsTable } from './database.js'
import type { GrantRecord, GrantRepository } from './metadata-store.js'

function grantRowToRecord(row: Selectable<FileGrantsTable>): GrantRecord {
  return {
    id: row.id,
    fileId: row.file_id,
    keyId: row.key_id,
    grantedBy: row.granted_by,
    createdAt: new Date(Number(row.created_at)),
    expiresAt: new Date(Number(row.expires_at)),
    revokedAt: row.revoked_at === null ? undefined : new Date(Number(row.revoked_at)),
  }
}

export class KyselyGrantRepository implements GrantRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(grant: GrantRecord): Promise<void> {
    await this.db
      .insertInto('file_grants')
      .values({
        id: grant.id,
        file_id: grant.fileId,
        key_id: grant.keyId,
        granted_by: grant.grantedBy,
        created_at: grant.createdAt.getTime(),
        expires_at: grant.expiresAt.getTime(),
        revoked_at: grant.revokedAt?.getTime() ?? null,
      })
      .execute()
  }

  async findActive(keyId: string, fileId: string, at: Date): Promise<GrantRecord | undefined> {
    const row = await this.db
      .selectFrom('file_grants')
      .selectAll()
      .where('key_id', '=', keyId)
      .where('file_id', '=', fileId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', at.getTime())
      .orderBy('expires_at', 'desc')
      .limit(1)
      .executeTakeFirst()
    return row && grantRowToRecord(row)
  }

  async listForFile(fileId: string): Promise<GrantRecord[]> {
    const rows = await this.db
      .selectFrom('file_grants')
      .selectAll()
      .where('file_id', '=', fileId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute()
    return rows.map(grantRowToRecord)
  }

  async revoke(id: string, fileId: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('file_grants')
      .set({ revoked_at: at.getTime() })
      .where('id', '=', id)
      .where('file_id', '=', fileId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  async listAll(options: { afterId?: string; limit: number }): Promise<GrantRecord[]> {
    let select = this.db.selectFrom('file_grants').selectAll()
    if (options.afterId !== undefined) select = select.where('id', '>', options.afterId)
    const rows = await select.orderBy('id').limit(options.limit).execute()
    return rows.map(grantRowToRecord)
  }

  async import(grant: GrantRecord): Promise<'copied' | 'revoked' | 'unchanged' | 'skipped'> {
    const existing = await this.db.selectFrom('file_grants').select('revoked_at').where('id', '=', grant.id).executeTakeFirst()
    if (existing) {
      if (existing.revoked_at !== null || grant.revokedAt === undefined) return 'unchanged'
      // Revoked at the source since the last copy: the copy must not go on granting.
      const revoked = await this.db
        .updateTable('file_grants')
        .set({ revoked_at: grant.revokedAt.getTime() })
        .where('id', '=', grant.id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst()
      return Number(revoked.numUpdatedRows) > 0 ? 'revoked' : 'unchanged'
    }
    // One statement: the grant goes in only with its file and key, whatever happens to them meanwhile.
    const inserted = await this.db
      .insertInto('file_grants')
      .columns(['id', 'file_id', 'key_id', 'granted_by', 'created_at', 'expires_at', 'revoked_at'])
      .expression((eb) =>
        eb
          .selectFrom('files')
          .innerJoin('api_keys', (join) => join.onTrue())
          .select([
            eb.val(grant.id).as('id'),
            'files.id as file_id',
            'api_keys.id as key_id',
            eb.val(grant.grantedBy).as('granted_by'),
            eb.val(grant.createdAt.getTime()).as('created_at'),
            eb.val(grant.expiresAt.getTime()).as('expires_at'),
            eb.val(grant.revokedAt?.getTime() ?? null).as('revoked_at'),
          ])
          .where('files.id', '=', grant.fileId)
          .where('api_keys.id', '=', grant.keyId),
      )
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst()
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 ? 'copied' : 'skipped'
  }
}
