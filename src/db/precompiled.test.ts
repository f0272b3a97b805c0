import { sql, type Kysely } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from './database.js'
import { KyselyMetadataStore } from './kysely-metadata-store.js'
import { precompile } from './precompiled.js'

describe('precompile', () => {
  let store: KyselyMetadataStore
  beforeAll(async () => {
    store = await KyselyMetadataStore.openSqlite(':memory:')
    await store.db
      .insertInto('settings')
      .values([
        { key: 'a', value: 'first' },
        { key: 'b', value: 'second' },
      ])
      .execute()
  })
  afterAll(() => store.close())

  it("runs the compiled query with each call's values, leaving its other parameters alone", async () => {
    const byKey = precompile(['key'], (db: Kysely<Database>, key) => db.selectFrom('settings').select('value').where('key', '=', key).where('value', '!=', 'none'))
    expect((await store.db.executeQuery(byKey(store.db, 'a'))).rows).toEqual([{ value: 'first' }])
    expect((await store.db.executeQuery(byKey(store.db, 'b'))).rows).toEqual([{ value: 'second' }])
    expect((await store.db.executeQuery(byKey(store.db, 'missing'))).rows).toEqual([])
    expect(byKey(store.db, 'a').parameters).toEqual(['a', 'none'])
  })

  it('takes values of any type, fills a placeholder used twice, and runs inside a transaction', async () => {
    const insert = precompile(['id', 'createdAt'], (db: Kysely<Database>, id, createdAt) =>
      db.insertInto('locks').values({ name: id, owner: id, expires_at: createdAt }),
    )
    expect(insert(store.db, 'lock-1', 42).parameters).toEqual(['lock-1', 'lock-1', 42])
    await store.db.transaction().execute(async (trx) => {
      await trx.executeQuery(insert(trx, 'lock-1', 42))
    })
    expect(await store.db.selectFrom('locks').selectAll().execute()).toEqual([{ name: 'lock-1', owner: 'lock-1', expires_at: 42 }])
  })

  it('refuses a placeholder that does not become a bound parameter', () => {
    const inlined = precompile(['column'], (db: Kysely<Database>, column) => db.selectFrom('settings').select(sql.raw(column).as('x')))
    expect(() => inlined(store.db, 'key')).toThrow(/inlined|does not reach/)
    const unused = precompile(['unused'], (db: Kysely<Database>) => db.selectFrom('settings').selectAll())
    expect(() => unused(store.db, 'x')).toThrow(/does not reach/)
  })
})
