import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { KyselyMetadataStore } from '../../db/kysely-metadata-store.js'
import { TrafficRecorder } from './traffic-recorder.js'

describe('TrafficRecorder', () => {
  let dir: string
  let store: KyselyMetadataStore
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cabinet-traffic-'))
    store = await KyselyMetadataStore.openSqlite(join(dir, 'cabinet.db'))
  })
  afterEach(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('counts in memory and writes one row per day per flush, not one per transfer', async () => {
    let now = Date.UTC(2026, 11, 1, 23, 59, 59)
    const recorder = new TrafficRecorder(store.traffic, { flushIntervalMs: 60_000, logger: pino({ level: 'silent' }), now: () => now })
    for (let i = 0; i < 1000; i++) recorder.downloaded(10)
    recorder.uploaded(5)
    expect(await store.traffic.list('2026-01-01')).toEqual([])
    now += 2000
    recorder.downloaded(1)
    await recorder.flush()
    expect(await store.traffic.list('2026-01-01')).toEqual([
      { day: '2026-12-01', uploads: 1, uploadBytes: 5, downloads: 1000, downloadBytes: 10_000 },
      { day: '2026-12-02', uploads: 0, uploadBytes: 0, downloads: 1, downloadBytes: 1 },
    ])
    recorder.uploaded(7)
    await recorder.stop()
    expect((await store.traffic.list('2026-12-02'))[0]).toMatchObject({ uploads: 1, uploadBytes: 7, downloads: 1 })
  })
})
