import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const FILE_BYTES = 2000
const png = () => pngBytes(FILE_BYTES - 16)

describe('quotas', () => {
  let cabinet: TestServer

  beforeAll(async () => {
    // Room for 7 files of FILE_BYTES, not 8; no rate limit gets in the way of the races.
    cabinet = await startTestServer({
      CABINET_QUOTA_MAX_BYTES: String(7 * FILE_BYTES + FILE_BYTES / 2),
      CABINET_QUOTA_MAX_FILES: '100',
      CABINET_RATE_LIMIT_UPLOADS_PER_USER: '0',
      CABINET_RATE_LIMIT_UPLOADS_PER_IP: '0',
    })
  })
  afterAll(() => cabinet.stop())

  const snapshot = async () => ({ rows: await cabinet.fileRows(), paths: await cabinet.storedPaths() })
  const usageOf = async (token: string) => (await (await fetch(`${cabinet.url}/api/me`, { headers: auth(token) })).json()).usage

  it('is exact under 20 concurrent uploads racing the limit: 7 stored, 13 refused with nothing left behind', async () => {
    const token = await cabinet.token('racer')
    const before = await snapshot()
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => uploadFile(cabinet.url, { token, name: `p${i}.png`, bytes: png() })))
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(7)
    expect(statuses.filter((s) => s === 507)).toHaveLength(13)
    for (const response of responses.filter((r) => r.status === 507)) {
      const body = await response.json()
      expect(body.code).toBe('QUOTA_EXCEEDED')
      expect(body.error).toMatch(/Storage quota exceeded: this upload of (at least )?\d+ bytes would bring you to \d+ of 15000 bytes/)
    }
    const after = await snapshot()
    const racerRows = after.rows.filter((row) => row.user_id === 'racer')
    expect(racerRows).toHaveLength(7)
    expect(racerRows.every((row) => row.status === 'ready')).toBe(true)
    expect(after.paths.length - before.paths.length).toBe(7)
    expect(await usageOf(token)).toEqual({ bytes: 7 * FILE_BYTES, files: 7 })

    // A delete gives the room back, exactly.
    const list = await (await fetch(`${cabinet.url}/api/files`, { headers: auth(token) })).json()
    expect((await fetch(`${cabinet.url}/api/files/${list.files[0].file_id}`, { method: 'DELETE', headers: auth(token) })).status).toBe(204)
    expect(await usageOf(token)).toEqual({ bytes: 6 * FILE_BYTES, files: 6 })
    expect((await uploadFile(cabinet.url, { token, name: 'again.png', bytes: png() })).status).toBe(200)
    expect((await uploadFile(cabinet.url, { token, name: 'one-too-many.png', bytes: png() })).status).toBe(507)
  })

  it('stays exact when deletes race uploads', async () => {
    const token = await cabinet.token('churner')
    const first = await Promise.all(Array.from({ length: 5 }, (_, i) => uploadFile(cabinet.url, { token, name: `a${i}.png`, bytes: png() })))
    const ids = await Promise.all(first.map(async (r) => (await r.json()).file_id as string))
    await Promise.all([
      ...ids.map((id) => fetch(`${cabinet.url}/api/files/${id}`, { method: 'DELETE', headers: auth(token) })),
      ...Array.from({ length: 10 }, (_, i) => uploadFile(cabinet.url, { token, name: `b${i}.png`, bytes: png() })),
    ])
    const ready = (await cabinet.fileRows()).filter((row) => row.user_id === 'churner' && row.status === 'ready')
    expect(ready.length).toBeLessThanOrEqual(7)
    expect(await usageOf(token)).toEqual({ bytes: ready.length * FILE_BYTES, files: ready.length })
  })

  it('refuses a declared body that cannot fit before reading it, and says so with the numbers', async () => {
    const token = await cabinet.token('big')
    const before = await snapshot()
    const response = await uploadFile(cabinet.url, { token, name: 'big.png', bytes: pngBytes(200_000) })
    expect(response.status).toBe(507)
    expect(await response.json()).toEqual({
      error: expect.stringMatching(/^Storage quota exceeded: this upload of at least \d+ bytes would bring you to \d+ of 15000 bytes \(you use 0\)$/),
      code: 'QUOTA_EXCEEDED',
    })
    expect(await snapshot()).toEqual(before)
  })

  it('a user\'s own limits (cabinet user set-quota) override the default: bytes and file count', async () => {
    const token = await cabinet.token('counted')
    await cabinet.server.services.quotas.setLimits('counted', { maxFiles: 2 })
    expect((await uploadFile(cabinet.url, { token, name: '1.png', bytes: png() })).status).toBe(200)
    expect((await uploadFile(cabinet.url, { token, name: '2.png', bytes: png() })).status).toBe(200)
    const third = await uploadFile(cabinet.url, { token, name: '3.png', bytes: png() })
    expect(third.status).toBe(507)
    expect((await third.json()).error).toBe('File quota exceeded: you have 2 of 2 files; delete some to upload more')
    expect((await (await fetch(`${cabinet.url}/api/me`, { headers: auth(token) })).json()).quota).toEqual({ max_bytes: 15000, max_files: 2 })

    await cabinet.server.services.quotas.setLimits('counted', { maxFiles: 'default', maxBytes: 'unlimited' })
    expect((await (await fetch(`${cabinet.url}/api/me`, { headers: auth(token) })).json()).quota).toEqual({ max_bytes: null, max_files: 100 })
    expect((await uploadFile(cabinet.url, { token, name: 'big.png', bytes: pngBytes(100_000) })).status).toBe(200)
  })
})
