import type { Kysely } from 'kysely'
import type { Database } from './database.js'
import type { DailyTraffic, TrafficRepository } from './metadata-store.js'

export class KyselyTrafficRepository implements TrafficRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async add(traffic: DailyTraffic): Promise<void> {
    await this.db
      .insertInto('traffic_daily')
      .values({
        day: traffic.day,
        uploads: traffic.uploads,
        upload_bytes: traffic.uploadBytes,
        downloads: traffic.downloads,
        download_bytes: traffic.downloadBytes,
      })
      .onConflict((oc) =>
        oc.column('day').doUpdateSet((eb) => ({
          uploads: eb('traffic_daily.uploads', '+', eb.ref('excluded.uploads')),
          upload_bytes: eb('traffic_daily.upload_bytes', '+', eb.ref('excluded.upload_bytes')),
          downloads: eb('traffic_daily.downloads', '+', eb.ref('excluded.downloads')),
          download_bytes: eb('traffic_daily.download_bytes', '+', eb.ref('excluded.download_bytes')),
        })),
      )
      .execute()
  }

  async list(fromDay: string): Promise<DailyTraffic[]> {
    const rows = await this.db.selectFrom('traffic_daily').selectAll().where('day', '>=', fromDay).orderBy('day').execute()
    return rows.map((row) => ({
      day: row.day,
      uploads: Number(row.uploads),
      uploadBytes: Number(row.upload_bytes),
      downloads: Number(row.downloads),
      downloadBytes: Number(row.download_bytes),
    }))
  }
}
