import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

describe('rate limits across instances on PostgreSQL', () => {
  let backend: TestBackend
  let a: TestServer
  let b: TestServer

  beforeAll(async () => {
    backend = await openTestBackend('postgres-s3')
    const env = { CABINET_RATE_LIMIT_UPLOADS_PER_USER: '3', CABINET_RATE_LIMIT_UPLOADS_PER_IP: '0' }
    a = await startTestServer(env, backend)
    b = await startTestServer(env, backend)
  })
  afterAll(async () => {
    await a.stop()
    await b.stop()
    await backend.cleanup()
  })

  it('every instance counts against one shared limit', async () => {
    const token = await a.token('shared')
    const statuses: number[] = []
    for (const server of [a, b, a, b]) statuses.push((await uploadFile(server.url, { token, name: 'x.png', bytes: pngBytes() })).status)
    expect(statuses).toEqual([200, 200, 200, 429])
    const db = await backend.db()
    expect(await db.selectFrom('rate_limits').select(['key', 'hits']).where('key', '=', 'uploads:user:shared').execute()).toEqual([
      { key: 'uploads:user:shared', hits: 4 },
    ])
  })
})
