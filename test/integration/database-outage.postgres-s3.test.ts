import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { proxyPostgres, type TcpProxy } from '../helpers/tcp-proxy.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

describe('PostgreSQL goes away', () => {
  let backend: TestBackend
  let proxy: TcpProxy
  let cabinet: TestServer

  beforeEach(async () => {
    backend = await openTestBackend()
    const proxied = await proxyPostgres(backend.env.CABINET_DATABASE_URL!)
    proxy = proxied.proxy
    cabinet = await startTestServer({ CABINET_DATABASE_URL: proxied.url }, backend)
  })
  afterEach(async () => {
    await cabinet?.stop()
    await proxy?.close()
    await backend?.cleanup()
  })

  it('answers 503 STORAGE_UNAVAILABLE while it cannot be reached, and serves again once it can', async () => {
    const token = await cabinet.token('alice')
    const kept = await (await uploadFile(cabinet.url, { token, name: 'kept.png', bytes: pngBytes(1024) })).json()
    await proxy.cut()
    // Past the one second for which a verified token is believed without asking the database.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const answers = [
      await uploadFile(cabinet.url, { token, name: 'scan.png', bytes: pngBytes(64 * 1024) }),
      await fetch(`${cabinet.url}/api/files`, { headers: auth(token) }),
      await fetch(`${cabinet.url}/api/files/${kept.file_id}`, { headers: auth(token) }),
    ]
    for (const answer of answers) {
      expect(answer.status).toBe(503)
      expect(answer.headers.get('retry-after')).toBe('10')
      expect(await answer.json()).toEqual({ error: expect.stringMatching(/storage/i), code: 'STORAGE_UNAVAILABLE' })
    }
    const ready = await fetch(`${cabinet.url}/readyz`)
    expect(await ready.json()).toEqual({ error: 'Not ready: the metadata database does not answer', code: 'NOT_READY' })
    // The failure is counted under the code the client saw.
    const metrics = await (await fetch(`${cabinet.url}/metrics`)).text()
    expect(metrics).toContain('cabinet_upload_failures_total{code="STORAGE_UNAVAILABLE"} 1')

    await proxy.mend()
    const list = await fetch(`${cabinet.url}/api/files`, { headers: auth(token) })
    expect(list.status).toBe(200)
    expect((await list.json()).files.map((file: { file_id: string }) => file.file_id)).toEqual([kept.file_id])
    expect((await uploadFile(cabinet.url, { token, name: 'scan.png', bytes: pngBytes(64 * 1024) })).status).toBe(200)
  })
})
