import { randomBytes } from 'node:crypto'
import { chmod, readdir, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlobStore } from '../../src/blob/blob-store.js'
import { blobKeyForFileId } from '../../src/blob/secure-path.js'
import { loadConfig } from '../../src/config.js'
import { openBlobStore } from '../../src/main.js'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { runCli } from '../helpers/process.js'
import { BACKEND, startTestServer } from '../helpers/server.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }

interface Problem {
  kind: string
  fileId?: string
  key?: string
  path?: string
  repair?: string
}

describe('cabinet verify', () => {
  let backend: TestBackend
  let blobs: BlobStore
  let env: Record<string, string>
  const ids: Record<string, string> = {}
  let token: string
  const orphanKey = blobKeyForFileId(randomBytes(16).toString('hex'))
  const pendingId = randomBytes(16).toString('hex')
  let abortUpload: (() => Promise<void>) | undefined

  const cli = (args: string[]) => runCli(args, { ...env, ...QUIET_SDK })
  const verify = async (...args: string[]) => {
    const result = await cli(['verify', '--json', ...args])
    return { code: result.code, report: JSON.parse(result.stdout) as { clean: boolean; problems: Problem[]; checks: string[]; quarantineDir?: string } }
  }

  beforeAll(async () => {
    backend = await openTestBackend()
    env = { ...backend.env, CABINET_UPLOAD_TIMEOUT_MS: '1000' }
    const cabinet = await startTestServer({ CABINET_CLEANUP_SCHEDULE: 'off', CABINET_BACKUP_SCHEDULE: 'off' }, backend)
    token = await cabinet.token('alice')
    for (const label of ['good', 'missing', 'resized', 'altered']) {
      const body = await (await uploadFile(cabinet.url, { token, name: `${label}.png`, bytes: pngBytes(5000) })).json()
      ids[label] = body.file_id
    }
    await cabinet.stop()
    blobs = await openBlobStore(loadConfig(backend.env))
  })
  afterAll(async () => {
    await abortUpload?.()
    await blobs?.close()
    await backend?.cleanup()
  })

  it('is clean on a consistent store, and says which checks apply', async () => {
    const { code, report } = await verify()
    expect(report.problems).toEqual([])
    expect(code).toBe(0)
    expect(report.checks.includes('modes')).toBe(BACKEND === 'embedded')
  })

  it('finds each kind of planted inconsistency and exits 1', async () => {
    await blobs.put(orphanKey, Readable.from([pngBytes(10)]))
    await blobs.delete(blobKeyForFileId(ids.missing!))
    await blobs.put(blobKeyForFileId(ids.resized!), Readable.from([pngBytes(6000)]))
    const altered = pngBytes(5000)
    altered[altered.length - 1] = altered[altered.length - 1]! ^ 0xff
    await blobs.put(blobKeyForFileId(ids.altered!), Readable.from([altered]))
    const db = await backend.db()
    await db
      .insertInto('files')
      .values({
        id: pendingId,
        user_id: 'alice',
        status: 'pending',
        original_name: 'never.png',
        kind: 'png',
        mime_type: 'image/png',
        blob_key: blobKeyForFileId(pendingId),
        size_bytes: null,
        sha256: null,
        created_at: Date.now() - 3_600_000,
        uploaded_at: null,
      })
      .execute()
    if (BACKEND === 'embedded') {
      await chmod(join(backend.dataDir, 'blobs', blobKeyForFileId(ids.good!)), 0o644)
      const temp = join(backend.dataDir, 'tmp', 'crashed.part')
      await writeFile(temp, 'partial')
      await utimes(temp, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    } else {
      const s3 = new S3Client({
        endpoint: env.CABINET_S3_ENDPOINT!,
        region: env.CABINET_S3_REGION!,
        forcePathStyle: true,
        credentials: { accessKeyId: env.CABINET_S3_ACCESS_KEY_ID!, secretAccessKey: env.CABINET_S3_SECRET_ACCESS_KEY! },
      })
      const Key = blobKeyForFileId(randomBytes(16).toString('hex'))
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: env.CABINET_S3_BUCKET!, Key }))
      abortUpload = async () => {
        await s3.send(new AbortMultipartUploadCommand({ Bucket: env.CABINET_S3_BUCKET!, Key, UploadId })).catch(() => {})
        s3.destroy()
      }
      // Younger than the upload timeout and its grace (as long again, for a 1 s timeout) would be an upload in flight.
      await new Promise((resolve) => setTimeout(resolve, 2200))
    }

    const { code, report } = await verify()
    expect(code).toBe(1)
    expect(report.clean).toBe(false)
    const found = report.problems.map((p) => [p.kind, p.fileId ?? p.key ?? p.path])
    expect(found).toEqual(
      expect.arrayContaining([
        ['orphan_blob', orphanKey],
        ['missing_blob', ids.missing],
        ['size_mismatch', ids.resized],
        ['sha256_mismatch', ids.altered],
        ['interrupted', pendingId],
      ]),
    )
    expect(report.problems.some((p) => p.kind === 'temp_file')).toBe(true)
    if (BACKEND === 'embedded') expect(found).toContainEqual(['wrong_mode', `blobs/${blobKeyForFileId(ids.good!)}`])
    expect(report.problems.some((p) => p.fileId === ids.good && p.kind !== 'wrong_mode')).toBe(false)
    expect(report.problems.every((p) => p.repair === undefined)).toBe(true)

    const human = await cli(['verify'])
    expect(human.code).toBe(1)
    expect(human.stdout).toContain(`orphan_blob ${orphanKey}`)
  })

  it('--repair fixes what is safe, quarantines the rest, and the next run is clean', async () => {
    const { code, report } = await verify('--repair')
    expect(code).toBe(1)
    expect(report.problems.every((p) => p.repair !== undefined && !p.repair.startsWith('repair failed'))).toBe(true)
    expect(report.quarantineDir).toBeDefined()
    const quarantined = await readdir(report.quarantineDir!, { recursive: true })
    expect(quarantined).toEqual(expect.arrayContaining([join('blobs', orphanKey), join('rows', `${ids.missing}.json`), join('rows', `${ids.altered}.json`)]))
    expect(quarantined).toContain(join('blobs', blobKeyForFileId(ids.resized!)))
    expect((await stat(join(report.quarantineDir!, 'blobs', orphanKey))).mode & 0o777).toBe(0o640)

    const again = await verify()
    expect(again.report.problems).toEqual([])
    expect(again.code).toBe(0)

    const cabinet = await startTestServer({ CABINET_CLEANUP_SCHEDULE: 'off', CABINET_BACKUP_SCHEDULE: 'off' }, backend)
    try {
      expect((await fetch(`${cabinet.url}/api/files/${ids.good}`, { headers: auth(token) })).status).toBe(200)
      for (const label of ['missing', 'resized', 'altered']) {
        expect((await fetch(`${cabinet.url}/api/files/${ids[label]}`, { headers: auth(token) })).status).toBe(404)
      }
    } finally {
      await cabinet.stop()
    }
  })
})
