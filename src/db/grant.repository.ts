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
}
