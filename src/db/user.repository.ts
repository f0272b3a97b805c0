import { sql, type Kysely, type Selectable } from 'kysely'
import type { Database, UsersTable } from './database.js'
import { precompile } from './precompiled.js'
import type { UserRepository, UserUsage, WechatIdentity } from './metadata-store.js'

function optionalNumber(value: number | null): number | undefined {
  return value === null ? undefined : Number(value)
}

function userRowToUsage(row: Selectable<UsersTable>): UserUsage {
  return {
    userId: row.id,
    usedBytes: Number(row.used_bytes),
    usedFiles: Number(row.used_files),
    maxBytes: optionalNumber(row.max_bytes),
    maxFiles: optionalNumber(row.max_files),
  }
}

/** Every upload checks its owner's usage first. */
const USAGE = precompile(['userId'], (db: Kysely<Database>, userId) => db.selectFrom('users').selectAll().where('id', '=', userId))

/** The user's usage row, or zeros and no limits for a user never seen; usable inside a transaction. */
export async function readUsage(db: Kysely<Database>, userId: string): Promise<UserUsage> {
  const [row] = (await db.executeQuery(USAGE(db, userId))).rows
  return row ? userRowToUsage(row) : { userId, usedBytes: 0, usedFiles: 0, maxBytes: undefined, maxFiles: undefined }
}

export class KyselyUserRepository implements UserRepository {
  constructor(private readonly db: Kysely<Database>) {}

  usage(userId: string): Promise<UserUsage> {
    return readUsage(this.db, userId)
  }

  async setQuota(userId: string, limits: { maxBytes?: number | null; maxFiles?: number | null }, at: Date): Promise<UserUsage> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('users')
        .values({ id: userId, created_at: at.getTime(), used_bytes: 0, used_files: 0, max_bytes: null, max_files: null })
        .onConflict((conflict) => conflict.column('id').doNothing())
        .execute()
      const changes = {
        ...(limits.maxBytes === undefined ? {} : { max_bytes: limits.maxBytes }),
        ...(limits.maxFiles === undefined ? {} : { max_files: limits.maxFiles }),
      }
      if (Object.keys(changes).length > 0) await trx.updateTable('users').set(changes).where('id', '=', userId).execute()
      return readUsage(trx, userId)
    })
  }

  async signInWechat(identity: WechatIdentity, newUserId: string, at: Date): Promise<{ userId: string; created: boolean }> {
    const linked = await this.db
      .updateTable('wechat_accounts')
      .set((eb) => ({ last_login_at: at.getTime(), unionid: eb.fn.coalesce('unionid', eb.val(identity.unionid ?? null)) }))
      .where('app_id', '=', identity.appId)
      .where('openid', '=', identity.openid)
      .returning('user_id')
      .executeTakeFirst()
    if (linked) return { userId: linked.user_id, created: false }

    const sibling = identity.unionid
      ? await this.db
          .selectFrom('wechat_accounts')
          .select('user_id')
          .where('unionid', '=', identity.unionid)
          .orderBy('created_at')
          .limit(1)
          .executeTakeFirst()
      : undefined
    const candidate = sibling?.user_id ?? newUserId
    await this.db
      .insertInto('wechat_accounts')
      .values({
        app_id: identity.appId,
        openid: identity.openid,
        unionid: identity.unionid ?? null,
        user_id: candidate,
        created_at: at.getTime(),
        last_login_at: at.getTime(),
      })
      .onConflict((conflict) => conflict.columns(['app_id', 'openid']).doNothing())
      .execute()
    // Another instance may have linked the same openid first: its answer wins.
    const row = await this.db
      .selectFrom('wechat_accounts')
      .select('user_id')
      .where('app_id', '=', identity.appId)
      .where('openid', '=', identity.openid)
      .executeTakeFirstOrThrow()
    const created = row.user_id === newUserId
    if (created) {
      await this.db
        .insertInto('users')
        .values({ id: newUserId, created_at: at.getTime(), used_bytes: 0, used_files: 0, max_bytes: null, max_files: null })
        .onConflict((conflict) => conflict.column('id').doNothing())
        .execute()
    }
    return { userId: row.user_id, created }
  }

  async recountUsage(at: Date): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await sql`
        insert into users (id, created_at, used_bytes, used_files)
        select user_id, ${at.getTime()}, sum(size_bytes), count(*) from files where status = 'ready' group by user_id
        on conflict (id) do update set used_bytes = excluded.used_bytes, used_files = excluded.used_files
      `.execute(trx)
      await trx
        .updateTable('users')
        .set({ used_bytes: 0, used_files: 0 })
        .where('id', 'not in', trx.selectFrom('files').select('user_id').where('status', '=', 'ready'))
        .execute()
    })
  }

  async exportAll(): ReturnType<UserRepository['exportAll']> {
    const users = (await this.db.selectFrom('users').selectAll().orderBy('id').execute()).map(userRowToUsage)
    const wechat = (await this.db.selectFrom('wechat_accounts').selectAll().orderBy('created_at').execute()).map((row) => ({
      appId: row.app_id,
      openid: row.openid,
      unionid: row.unionid ?? undefined,
      userId: row.user_id,
      createdAt: new Date(Number(row.created_at)),
    }))
    return { users, wechat }
  }

  async importAll(data: Awaited<ReturnType<UserRepository['exportAll']>>, at: Date): Promise<void> {
    for (const user of data.users) {
      if (user.maxBytes === undefined && user.maxFiles === undefined) continue
      const current = await this.usage(user.userId)
      if (current.maxBytes !== undefined || current.maxFiles !== undefined) continue
      await this.setQuota(user.userId, { maxBytes: user.maxBytes ?? null, maxFiles: user.maxFiles ?? null }, at)
    }
    for (const link of data.wechat) {
      await this.db
        .insertInto('wechat_accounts')
        .values({
          app_id: link.appId,
          openid: link.openid,
          unionid: link.unionid ?? null,
          user_id: link.userId,
          created_at: link.createdAt.getTime(),
          last_login_at: link.createdAt.getTime(),
        })
        .onConflict((conflict) => conflict.columns(['app_id', 'openid']).doNothing())
        .execute()
    }
  }
}
