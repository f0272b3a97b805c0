import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

  it('runs the compiled query with each call\'s values, leaving its other parameters alone', async () => {
    const byKey = precompile(['key'], (key) => store.db.selectFrom('settings').select('value').where('key', '=', key).where('value', '!=', 'none'))
    expect((await store.db.executeQuery(byKey('a'))).rows).toEqual([{ value: 'first' }])
    expect((await store.db.executeQuery(byKey('b'))).rows).toEqual([{ value: 'second' }])
    expect((await store.db.executeQuery(byKey('missing'))).rows).toEqual([])
    expect(byKey('a').parameters).toEqual(['a', 'none'])
  })

  it('fills a placeholder used twice, and several placeholders in their own places', async () => {
    const either = precompile(['x', 'y'], (x, y) =>
      store.db.selectFrom('settings').select('key').where((eb) => eb.or([eb('key', '=', x), eb('value', '=', y), eb('key', '=', y)])).orderBy('key'),
    )
    expect((await store.db.executeQuery(either('a', 'second'))).rows).toEqual([{ key: 'a' }, { key: 'b' }])
    expect(either('p', 'q').parameters).toEqual(['p', 'q', 'q'])
  })

  it('refuses a placeholder that does not become a bound parameter', () => {
    expect(() => precompile(['table'], (table) => store.db.selectFrom('settings').select(sql.raw(table).as('x')))).toThrow(/inlined|does not reach/)
    expect(() => precompile(['unused'], () => store.db.selectFrom('settings').selectAll())).toThrow(/does not reach/)
  })
})
