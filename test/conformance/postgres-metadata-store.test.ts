import { describe, expect, it } from 'vitest'
import { KyselyMetadataStore } from '../../src/db/kysely-metadata-store.js'
import { MetadataStoreUnavailableError } from '../../src/db/metadata-store.js'
import { freshPostgresDatabase } from '../helpers/backends.js'
import { proxyPostgres } from '../helpers/tcp-proxy.js'
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

  it('reports a connection lost mid-transaction as unavailable, without an uncaught error, and reconnects', async () => {
    const database = await freshPostgresDatabase()
    const { proxy, url } = await proxyPostgres(database.url)
    const store = await KyselyMetadataStore.openPostgres(url, { poolMax: 2 })
    try {
      const transaction = store.db.transaction().execute(async (trx) => {
        await trx.selectFrom('files').select('id').execute()
        // The server goes away between two statements, while this connection is checked out.
        await proxy.cut()
        await new Promise((resolve) => setTimeout(resolve, 200))
        await trx.selectFrom('files').select('id').execute()
      })
      await expect(transaction).rejects.toBeInstanceOf(MetadataStoreUnavailableError)
      await expect(store.ping()).rejects.toBeInstanceOf(MetadataStoreUnavailableError)
      await proxy.mend()
      await store.ping()
    } finally {
      await store.close()
      await proxy.close()
      await database.drop()
    }
  })
})
