import { request } from 'node:http'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, eventually, rawMultipart, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { proxyPostgres, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

const BOUNDARY = 'outage'
const MiB = 1024 * 1024

/** Posts `body` in two halves, running `between` after the first; resolves with the answer. */
function uploadInTwoHalves(url: string, token: string, body: Uint8Array, between: () => Promise<void>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const half = Math.floor(body.length * 0.75)
    const req = request(`${url}/api/files/upload`, {
      method: 'POST',
      headers: auth(token, { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': String(body.length) }),
    }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    // The server may answer and stop reading before the second half is sent.
    req.on('error', reject)
    req.write(body.subarray(0, half))
    between().then(() => req.end(body.subarray(half)), reject)
  })
}

// One Cabinet on PostgreSQL + S3 per test, with a TCP proxy in front of the backend that goes away.
let backend: TestBackend
let proxy: TcpProxy
let cabinet: TestServer

afterEach(async () => {
  await cabinet?.stop()
  await proxy?.close()
  await backend?.cleanup()
})

/** Every answer is a retryable 503 STORAGE_UNAVAILABLE, and /readyz names what is down. */
async function expectOutage(answers: Response[], down: string): Promise<void> {
  for (const answer of answers) {
    expect(answer.status).toBe(503)
    expect(answer.headers.get('retry-after')).toBe('10')
    expect(await answer.json()).toEqual({ error: expect.stringMatching(/storage/i), code: 'STORAGE_UNAVAILABLE' })
  }
  const ready = await fetch(`${cabinet.url}/readyz`)
  expect(ready.status).toBe(503)
  expect(await ready.json()).toEqual({ error: `Not ready: ${down} does not answer`, code: 'NOT_READY' })
}

describe('object storage goes away', () => {
  beforeEach(async () => {
    backend = await openTestBackend()
    proxy = await startTcpProxy(backend.env.CABINET_S3_ENDPOINT!)
    // Short timeouts: recovery may take the failed upload's leftovers 10 s after it started; the
    // upload's own deadline (5 s) leaves room for the SDK's retries on a slow machine.
    cabinet = await startTestServer(
      {
        CABINET_S3_ENDPOINT: proxy.url,
        CABINET_S3_REQUEST_TIMEOUT_MS: '1000',
        CABINET_UPLOAD_TIMEOUT_MS: '5000',
        CABINET_JOB_LEASE_MS: '1000',
        CABINET_JOB_POLL_INTERVAL_MS: '200',
      },
      backend,
    )
  })
  it('answers 503 STORAGE_UNAVAILABLE, not a truncated upload, and leaves nothing once storage is back', async () => {
    const token = await cabinet.token('alice')
    const body = rawMultipart(BOUNDARY, 'scan.png', pngBytes(8 * MiB))
    const answer = await uploadInTwoHalves(cabinet.url, token, body, async () => {
      // The first 5 MiB part is on its way: S3 has a multipart upload open.
      await eventually(async () => expect(await backend.storedPaths()).toEqual([expect.stringMatching(/^multipart:/)]), 10_000)
      await proxy.cut()
    })
    expect(answer.status).toBe(503)
    expect(JSON.parse(answer.body)).toEqual({ error: expect.stringMatching(/storage/i), code: 'STORAGE_UNAVAILABLE' })

    await proxy.mend()
    await eventually(async () => {
      expect(await backend.storedPaths()).toEqual([])
      expect(await backend.fileRows()).toEqual([])
    }, 30_000)
    const again = await uploadFile(cabinet.url, { token, name: 'scan.png', bytes: pngBytes(1024) })
    expect(again.status).toBe(200)
  }, 60_000)

  it('answers uploads and downloads made while storage is unreachable with 503 STORAGE_UNAVAILABLE, and /readyz says why', async () => {
    const token = await cabinet.token('alice')
    const stored = await (await uploadFile(cabinet.url, { token, name: 'kept.png', bytes: pngBytes(1024) })).json()
    await proxy.cut()
    const answers = [
      ...(await Promise.all([64 * 1024, 8 * MiB].map((size) => uploadFile(cabinet.url, { token, name: 'scan.png', bytes: pngBytes(size) })))),
      await fetch(`${cabinet.url}/api/files/${stored.file_id}`, { headers: auth(token) }),
    ]
    await expectOutage(answers, 'object storage')
    await proxy.mend()
    expect((await fetch(`${cabinet.url}/readyz`)).status).toBe(200)
    await eventually(async () => expect((await backend.fileRows()).map((row) => row.id)).toEqual([stored.file_id]), 30_000)
    const download = await fetch(`${cabinet.url}/api/files/${stored.file_id}`, { headers: auth(token) })
    expect(Buffer.from(await download.arrayBuffer())).toEqual(pngBytes(1024))
  }, 60_000)

  it('answers 503 STORAGE_UNAVAILABLE when storage stops answering, rather than hanging', async () => {
    const token = await cabinet.token('alice')
    const stored = await (await uploadFile(cabinet.url, { token, name: 'kept.png', bytes: pngBytes(1024) })).json()
    proxy.stall()
    const started = Date.now()
    const answer = await fetch(`${cabinet.url}/api/files/${stored.file_id}`, { headers: auth(token), signal: AbortSignal.timeout(20_000) })
    expect(answer.status).toBe(503)
    expect((await answer.json()).code).toBe('STORAGE_UNAVAILABLE')
    // CABINET_S3_REQUEST_TIMEOUT_MS (1 s here) per attempt, and the SDK's retries.
    expect(Date.now() - started).toBeLessThan(10_000)
    await proxy.mend()
    const download = await fetch(`${cabinet.url}/api/files/${stored.file_id}`, { headers: auth(token) })
    expect(Buffer.from(await download.arrayBuffer())).toEqual(pngBytes(1024))
  }, 60_000)
})

describe('PostgreSQL goes away', () => {
  beforeEach(async () => {
    backend = await openTestBackend()
    const proxied = await proxyPostgres(backend.env.CABINET_DATABASE_URL!)
    proxy = proxied.proxy
    cabinet = await startTestServer({ CABINET_DATABASE_URL: proxied.url }, backend)
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
    await expectOutage(answers, 'the metadata database')
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

describe('PostgreSQL stops answering', () => {
  beforeEach(async () => {
    backend = await openTestBackend()
    const proxied = await proxyPostgres(backend.env.CABINET_DATABASE_URL!)
    proxy = proxied.proxy
    cabinet = await startTestServer({ CABINET_DATABASE_URL: proxied.url, CABINET_DATABASE_TIMEOUT_MS: '1000' }, backend)
  })

  it('answers 503 STORAGE_UNAVAILABLE within its timeout rather than hanging, and serves again once it answers', async () => {
    const token = await cabinet.token('alice')
    const kept = await (await uploadFile(cabinet.url, { token, name: 'kept.png', bytes: pngBytes(1024) })).json()
    proxy.stall()
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const started = Date.now()
    const answers = [
      await fetch(`${cabinet.url}/api/files`, { headers: auth(token), signal: AbortSignal.timeout(20_000) }),
      await fetch(`${cabinet.url}/api/files/${kept.file_id}`, { headers: auth(token), signal: AbortSignal.timeout(20_000) }),
    ]
    // CABINET_DATABASE_TIMEOUT_MS (1 s here) for a statement, or for a new connection.
    expect(Date.now() - started).toBeLessThan(8000)
    await expectOutage(answers, 'the metadata database')
    await proxy.mend()
    const list = await fetch(`${cabinet.url}/api/files`, { headers: auth(token) })
    expect((await list.json()).files.map((file: { file_id: string }) => file.file_id)).toEqual([kept.file_id])
  })
})

