import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
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

  it('answers 507 when the disk fills up during an upload, and leaves no part of it behind', async () => {
    // A 4 MiB file system of its own (tmpfs: the tests run as root) that a filler fills past the server's last look.
    const dir = await mkdtemp(join(tmpdir(), 'cabinet-full-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0750', 'tmpfs', dir])
    try {
      const small = await startTestServer({ CABINET_DATA_DIR: dir, CABINET_MAX_FILE_BYTES: String(3 * 1024 * 1024) })
      try {
        const alice = await small.token('alice')
        const first = await uploadFile(small.url, { token: alice, name: 'first.png', bytes: pngBytes(1000) })
        expect(first.status).toBe(200)
        const free = await statfs(dir)
        await writeFile(join(dir, 'filler'), Buffer.alloc(Math.max(0, free.bavail * free.bsize - 256 * 1024)))
        const response = await uploadFile(small.url, { token: alice, name: 'big.png', bytes: pngBytes(2 * 1024 * 1024) })
        expect(response.status).toBe(507)
        expect(await response.json()).toEqual({ error: expect.any(String), code: 'INSUFFICIENT_STORAGE' })
        expect(await readdir(join(dir, 'tmp'))).toEqual([])
        const listed = await (await fetch(`${small.url}/api/files`, { headers: { authorization: `Bearer ${alice}` } })).json()
        expect(listed.files.map((f: { original_name: string }) => f.original_name)).toEqual(['first.png'])
        const shards = await readdir(join(dir, 'blobs'))
        const blobs = (await Promise.all(shards.map((shard) => readdir(join(dir, 'blobs', shard))))).flat()
        expect(blobs).toEqual([(await first.json()).file_id])
      } finally {
        await small.stop()
      }
    } finally {
      execFileSync('umount', [dir])
      await rm(dir, { recursive: true, force: true })
    }
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
