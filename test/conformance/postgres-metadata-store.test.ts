import { describe, expect, it } from 'vitest'
import { KyselyMetadataStore } from '../../src/db/kysely-metadata-store.js'
import { freshPostgresDatabase } from '../helpers/backends.js'
import { describeMetadataStore } from './metadata-store.js'

describeMetadataStore('KyselyMetadataStore on PostgreSQL', async () => {
  const database = await freshPostgresDatabase()
  const store = await KyselyMetadataStore.openPostgres(database.url, { poolMax: 4 })
  return { store, jobs: store.jobs, cleanup: () => database.drop() }
})

describe('KyselyMetadataStore.openPostgres', () => {
  it('several instances opening one new database at once migrate it once', async () => {
    const database = await freshPostgresDatabase()
    try {
      const stores = await Promise.all(Array.from({ length: 3 }, () => KyselyMetadataStore.openPostgres(database.url, { poolMax: 2 })))
      await Promise.all(stores.map((store) => store.ping()))
      await Promise.all(stores.map((store) => store.close()))
    } finally {
      await database.drop()
    }
  })

  it('names the server without its password when it cannot connect', async () => {
    await expect(KyselyMetadataStore.openPostgres('postgres://cabinet:hunter2@127.0.0.1:1/none', { poolMax: 1 })).rejects.toThrow(
      /Cannot connect to PostgreSQL at postgres:\/\/cabinet:\*\*\*@127\.0\.0\.1:1\/none/,
    )
  })
})
