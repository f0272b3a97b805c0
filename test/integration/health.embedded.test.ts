import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('GET /readyz on a nearly full disk', () => {
  let cabinet: TestServer
  beforeAll(async () => {
    // A floor no disk here reaches: the blob store's disk is "below" it.
    cabinet = await startTestServer({ CABINET_CLEANUP_SCHEDULE: 'off', CABINET_BACKUP_SCHEDULE: 'off', CABINET_MIN_FREE_BYTES: String(2 ** 52) })
  })
  afterAll(() => cabinet.stop())

  it('answers 503 NOT_READY naming the disk floor, while /healthz stays 200', async () => {
    const ready = await fetch(`${cabinet.url}/readyz`)
    expect(ready.status).toBe(503)
    const body = await ready.json()
    expect(body.code).toBe('NOT_READY')
    expect(body.error).toContain('free-space floor')
    expect((await fetch(`${cabinet.url}/healthz`)).status).toBe(200)
  })
})
