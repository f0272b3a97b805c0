import type { Kysely, Selectable } from 'kysely'
import type { Database, TokensTable } from './database.js'
import type { TokenRecord, TokenRepository } from './metadata-store.js'
import { precompile } from './precompiled.js'

function optionalDate(ms: number | null): Date | undefined {
  return ms === null ? undefined : new Date(Number(ms))
}

function tokenRowToRecord(row: Selectable<TokensTable>): TokenRecord {
  return {
    id: row.id,
    userId: row.user_id,
    secretHash: row.secret_hash,
    createdAt: new Date(Number(row.created_at)),
    expiresAt: optionalDate(row.expires_at),
    revokedAt: optionalDate(row.revoked_at),
    admin: Number(row.admin) === 1,
  }
}

/** Every authenticated request looks its token up by id. */
const FIND_BY_ID = precompile(['id'], (db: Kysely<Database>, id) => db.selectFrom('tokens').selectAll().where('id', '=', id))

export class KyselyTokenRepository implements TokenRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(token: TokenRecord): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({
        id: token.id,
        user_id: token.userId,
        secret_hash: token.secretHash,
        created_at: token.createdAt.getTime(),
        expires_at: token.expiresAt?.getTime() ?? null,
        revoked_at: token.revokedAt?.getTime() ?? null,
        admin: token.admin ? 1 : 0,
      })
      .execute()
  }

  async findById(id: string): Promise<TokenRecord | undefined> {
    const [row] = (await this.db.executeQuery(FIND_BY_ID(this.db, id))).rows
    return row && tokenRowToRecord(row)
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const result = await this.db
      .updateTable('tokens')
      .set({ revoked_at: at.getTime() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  }

  async list(userId?: string): Promise<TokenRecord[]> {
    let select = this.db.selectFrom('tokens').selectAll()
    if (userId !== undefined) select = select.where('user_id', '=', userId)
    const rows = await select.orderBy('created_at', 'desc').execute()
    return rows.map(tokenRowToRecord)
  }
}
