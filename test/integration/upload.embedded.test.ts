import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('uploads on the local disk', () => {
  let cabinet: TestServer
  let token: string

  beforeAll(async () => {
    cabinet = await startTestServer()
    token = await cabinet.token('alice')
  })
  afterAll(() => cabinet.stop())

  it('lands on disk with mode 0640 in a 0750 tree', async () => {
    const bytes = pngBytes(100)
    const { file_id } = await (await uploadFile(cabinet.url, { token, name: 'photo.png', bytes })).json()
    const blobPath = join(cabinet.dataDir, 'blobs', file_id.slice(0, 2), file_id)
    expect(await readFile(blobPath)).toEqual(bytes)
    expect((await stat(blobPath)).mode & 0o777).toBe(0o640)
    expect((await stat(join(blobPath, '..'))).mode & 0o777).toBe(0o750)
    expect((await stat(join(blobPath, '..', '..'))).mode & 0o777).toBe(0o750)
    expect((await stat(join(cabinet.dataDir, 'blobs'))).mode & 0o777).toBe(0o750)
  })

  it('refuses with 507 before writing when the disk is nearly full', async () => {
    const tight = await startTestServer({ CABINET_MIN_FREE_BYTES: String(Number.MAX_SAFE_INTEGER) })
    try {
      const response = await uploadFile(tight.url, { token: await tight.token('alice'), name: 'a.png', bytes: pngBytes() })
      expect(response.status).toBe(507)
      expect((await response.json()).code).toBe('INSUFFICIENT_STORAGE')
      expect(await tight.fileRows()).toEqual([])
      expect(await tight.storedPaths()).toEqual([])
    } finally {
      await tight.stop()
    }
  })
})
