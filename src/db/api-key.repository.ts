import type { Kysely, Selectable } from 'kysely'
import type { ApiKeysTable, Database } from './database.js'
import type { ApiKeyRecord, ApiKeyRepository, ApiKeyScope } from './metadata-store.js'

function optionalDate(ms: number | null): Date | undefined {
  return ms === null ? undefined : new Date(Number(ms))
}

function keyRowToRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    secretHash: row.secret_hash,
    scopes: row.scopes.split(',').filter(Boolean) as ApiKeyScope[],
    allUsers: Number(row.all_users) === 1,
    createdAt: new Date(Number(row.created_at)),
    expiresAt: optionalDate(row.expires_at),
    revokedAt: optionalDate(row.revoked_at),
  }
}

export class KyselyApiKeyRepository implements ApiKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(key: ApiKeyRecord): Promise<void> {
    await this.db
      .insertInto('api_keys')
      .values({
        id: key.id,
        name: key.name,
        secret_hash: key.secretHash,
        scopes: key.scopes.join(','),
        all_users: key.allUsers ? 1 : 0,
        created_at: key.createdAt.getTime(),
        expires_at: key.expiresAt?.getTime() ?? null,
        revoked_at: key.revokedAt?.getTime() ?? null,
      })
      .execute()
  }

  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst()
    return row && keyRowToRecord(row)
  }

  async findActiveByName(name: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('name', '=', name).where('revoked_at', 'is', null).executeTakeFirst()
    return row && keyRowToRecord(row)
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: at.getTime() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().orderBy('created_at', 'desc').orderBy('id').execute()
    return rows.map(keyRowToRecord)
  }
}
