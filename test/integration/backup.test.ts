import { createHash } from 'node:crypto'
import { copyFile, open, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blobKeyForFileId } from '../../src/blob/secure-path.js'
import { loadConfig } from '../../src/config.js'
import { isPostgresDatabaseEmpty } from '../../src/db/restore-target.js'
import { archiveName } from '../../src/domain/backup/backup-retention.js'
import { openBlobStore } from '../../src/main.js'
import { jpegBytes, pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { runCli } from '../helpers/process.js'
import { BACKEND, listFiles, makeDataDir, startTestServer, type TestServer } from '../helpers/server.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

const DAY = 86_400_000
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
// Uploads run back to back for as long as a backup takes: rate limits (60 a minute per user) are not under test here.
const OFF = { CABINET_CLEANUP_SCHEDULE: 'off', CABINET_BACKUP_SCHEDULE: 'off', CABINET_RATE_LIMIT_UPLOADS_PER_USER: '0', CABINET_RATE_LIMIT_UPLOADS_PER_IP: '0' }
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

interface Uploaded {
  readonly file_id: string
  readonly sha256: string
  readonly user: string
}

describe('cabinet backup and restore', () => {
  let source: TestBackend
  let cabinet: TestServer
  let backupDir: string
  let archive: string
  const tokens: Record<string, string> = {}
  const before: Uploaded[] = []
  const during: Uploaded[] = []
  const cli = (args: string[], env: Record<string, string> = source.env) => runCli(args, { ...env, ...QUIET_SDK })

  async function upload(user: string, name: string, bytes: Buffer): Promise<Uploaded> {
    const response = await uploadFile(cabinet.url, { token: tokens[user]!, name, bytes })
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body.sha256).toBe(sha256(bytes))
    return { file_id: body.file_id, sha256: body.sha256, user }
  }

  beforeAll(async () => {
    source = await openTestBackend()
    backupDir = await makeDataDir()
    cabinet = await startTestServer(OFF, source)
    for (const user of ['alice', 'bob']) tokens[user] = await cabinet.token(user)
    before.push(await upload('alice', '报告.pdf', pdfBytes('季度')))
    before.push(await upload('alice', 'big.png', pngBytes(3 * 1024 * 1024)))
    before.push(await upload('bob', 'scan.jpg', jpegBytes(200_000)))
    const gone = await upload('bob', 'gone.png', pngBytes(10))
    expect((await fetch(`${cabinet.url}/api/files/${gone.file_id}`, { method: 'DELETE', headers: auth(tokens.bob!) })).status).toBe(204)
  })
  afterAll(async () => {
    await cabinet?.stop()
    await source?.cleanup()
    await rm(backupDir, { recursive: true, force: true })
  })

  it('takes a backup while uploads are running, and prunes only archives past the retention', async () => {
    const old = archiveName(new Date(Date.now() - 20 * DAY))
    const recent = archiveName(new Date(Date.now() - 3 * DAY))
    for (const name of [old, recent, 'keep-me.txt']) await writeFile(join(backupDir, name), 'not really an archive')

    let uploading = true
    const uploads = (async () => {
      for (let i = 0; uploading || i < 3; i++) during.push(await upload(i % 2 ? 'bob' : 'alice', `during-${i}.png`, pngBytes(100_000 + i)))
    })()
    const result = await cli(['backup', '--to', backupDir, '--json'], { ...source.env, CABINET_BACKUP_RETENTION: '14d' })
    uploading = false
    await uploads
    // Without a terminal, progress is plain lines on stderr; stdout holds only the JSON report.
    expect(result.stderr).toMatch(/^backup: copying blobs 100% \(/m)
    expect(result.stderr).not.toContain('cabinet:')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    archive = report.archive
    expect(report.metadata).toBe(BACKEND === 'embedded' ? 'sqlite' : 'pg_dump')
    expect(report.files).toBeGreaterThanOrEqual(before.length)
    expect(report.pruned).toEqual([old])
    expect((await readdir(backupDir)).sort()).toEqual([recent, 'keep-me.txt', archive.split('/').at(-1)].sort())
    expect((await stat(archive)).mode & 0o777).toBe(0o640)
    expect(during.length).toBeGreaterThanOrEqual(3)
  })

  it('backup verify passes an intact archive', async () => {
    const result = await cli(['backup', 'verify', archive, '--json'])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, files: expect.any(Number) })
  })

  it('restores into empty storage where verify is clean and every file downloads with its original SHA-256', async () => {
    const target = await openTestBackend()
    try {
      const args = BACKEND === 'embedded' ? ['restore', archive, '--to', target.dataDir, '--json'] : ['restore', archive, '--json']
      const restored = await cli(args, BACKEND === 'embedded' ? {} : target.env)
      expect(restored.stderr).not.toContain('cabinet:')
      expect(restored.code).toBe(0)
      expect(JSON.parse(restored.stdout).verify).toMatchObject({ clean: true, problems: [] })
      const verified = await cli(['verify', '--json'], target.env)
      expect(JSON.parse(verified.stdout).problems).toEqual([])
      expect(verified.code).toBe(0)

      const restoredRows = await target.fileRows()
      expect(restoredRows.every((row) => row.status === 'ready')).toBe(true)
      const restoredIds = new Set(restoredRows.map((row) => row.id))
      for (const file of before) expect(restoredIds.has(file.file_id)).toBe(true)
      const known = new Map([...before, ...during].map((file) => [file.file_id, file]))
      const server = await startTestServer(OFF, target)
      try {
        for (const id of restoredIds) {
          const file = known.get(id)!
          expect(file).toBeDefined()
          const response = await fetch(`${server.url}/api/files/${id}`, { headers: auth(tokens[file.user]!) })
          expect(response.status).toBe(200)
          expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(file.sha256)
        }
      } finally {
        await server.stop()
      }
    } finally {
      await target.cleanup()
    }
  })

  it('detects a corrupted or truncated archive, and a restore of one leaves the target empty', async () => {
    const corrupted = join(backupDir, 'corrupted.tar.gz')
    await copyFile(archive, corrupted)
    const handle = await open(corrupted, 'r+')
    const { size } = await handle.stat()
    const middle = Buffer.alloc(1)
    await handle.read(middle, 0, 1, Math.floor(size / 2))
    middle[0] = middle[0]! ^ 0x55
    await handle.write(middle, 0, 1, Math.floor(size / 2))
    await handle.close()
    const checked = await cli(['backup', 'verify', corrupted, '--json'])
    expect(checked.code).toBe(1)
    expect(JSON.parse(checked.stdout)).toMatchObject({ ok: false, error: expect.stringMatching(/corrupt|does not match/) })

    const truncated = join(backupDir, 'truncated.tar.gz')
    await copyFile(archive, truncated)
    await truncate(truncated, Math.floor(size * 0.9))
    const cut = await cli(['backup', 'verify', truncated])
    expect(cut.code).toBe(1)
    expect(cut.stderr).toContain('failed verification')

    const target = await openTestBackend()
    try {
      const args = BACKEND === 'embedded' ? ['restore', corrupted, '--to', target.dataDir] : ['restore', corrupted]
      const restored = await cli(args, BACKEND === 'embedded' ? {} : target.env)
      expect(restored.code).toBe(1)
      expect(await target.storedPaths()).toEqual([])
      if (BACKEND === 'embedded') expect(await listFiles(target.dataDir, ['.'])).toEqual([])
      else expect(await isPostgresDatabaseEmpty(target.env.CABINET_DATABASE_URL!)).toBe(true)
    } finally {
      await target.cleanup()
    }
  })

  it('refuses to restore into storage that is not empty', async () => {
    const args = BACKEND === 'embedded' ? ['restore', archive, '--to', source.dataDir] : ['restore', archive]
    const refused = await cli(args, BACKEND === 'embedded' ? {} : source.env)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/not empty|exists/)
  })

  it('a backup that fails (a blob no longer matches its record) writes nothing and prunes nothing', async () => {
    const old = archiveName(new Date(Date.now() - 30 * DAY))
    await writeFile(join(backupDir, old), 'old')
    const blobs = await openBlobStore(loadConfig(source.env))
    const victim = before[2]!
    await blobs.put(blobKeyForFileId(victim.file_id), Readable.from([jpegBytes(200_000).fill(7, 10, 20)]))
    await blobs.close()
    const listing = await readdir(backupDir)
    const result = await cli(['backup', '--to', backupDir])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('does not match its SHA-256; run cabinet verify')
    expect((await readdir(backupDir)).sort()).toEqual(listing.sort())
  })
})
