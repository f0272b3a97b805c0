import { sql, type Kysely } from 'kysely'
import type { Database } from './database.js'
import type { RateLimitRepository } from './metadata-store.js'

export class KyselyRateLimitRepository implements RateLimitRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async hit(key: string, windowMs: number, at: Date): Promise<{ hits: number; resetAt: Date }> {
    const now = at.getTime()
    // One statement, so concurrent hits from any number of instances all count; an ended window restarts.
    const { rows } = await sql<{ hits: number; reset_at: number }>`
      insert into rate_limits (key, hits, reset_at) values (${key}, 1, ${now + windowMs})
      on conflict (key) do update set
        hits = case when rate_limits.reset_at <= ${now} then 1 else rate_limits.hits + 1 end,
        reset_at = case when rate_limits.reset_at <= ${now} then excluded.reset_at else rate_limits.reset_at end
      returning hits, reset_at
    `.execute(this.db)
    const row = rows[0]!
    return { hits: Number(row.hits), resetAt: new Date(Number(row.reset_at)) }
  }

  async purgeExpired(at: Date): Promise<number> {
    const result = await this.db.deleteFrom('rate_limits').where('reset_at', '<=', at.getTime()).executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}
