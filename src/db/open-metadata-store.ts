import type { Config } from '../config.js'
import { KyselyMetadataStore } from './kysely-metadata-store.js'

/** The metadata adapter the configuration names; migrations run on open. Light to import: CLI commands use it without the server. */
export async function openMetadataStore(config: Pick<Config, 'database'>): Promise<KyselyMetadataStore> {
  const { database } = config
  return database.kind === 'postgres'
    ? KyselyMetadataStore.openPostgres(database.url, { poolMax: database.poolMax, timeoutMs: database.timeoutMs })
    : KyselyMetadataStore.openSqlite(database.path)
}
