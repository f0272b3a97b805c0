import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import type { DailyUsage, UsageRepository } from './metadata-store.js'

export class KyselyUsageRepository implements UsageRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async add(usage: DailyUsage): Promise<void> {
    await this.db
      .insertInto('usage_daily')
      .values({
        day: usage.day,
        uploads: usage.uploads,
        upload_bytes: usage.uploadBytes,
        downloads: usage.downloads,
        download_bytes: usage.downloadBytes,
      })
      .onConflict((oc) =>
        oc.column('day').doUpdateSet((eb) => ({
          uploads: eb('usage_daily.uploads', '+', eb.ref('excluded.uploads')),
          upload_bytes: eb('usage_daily.upload_bytes', '+', eb.ref('excluded.upload_bytes')),
          downloads: eb('usage_daily.downloads', '+', eb.ref('excluded.downloads')),
          download_bytes: eb('usage_daily.download_bytes', '+', eb.ref('excluded.download_bytes')),
        })),
      )
      .execute()
  }

  async list(fromDay: string): Promise<DailyUsage[]> {
    const rows = await this.db.selectFrom('usage_daily').selectAll().where('day', '>=', fromDay).orderBy('day').execute()
    return rows.map((row) => ({
      day: row.day,
      uploads: Number(row.uploads),
      uploadBytes: Number(row.upload_bytes),
      downloads: Number(row.downloads),
      downloadBytes: Number(row.download_bytes),
    }))
  }
}
