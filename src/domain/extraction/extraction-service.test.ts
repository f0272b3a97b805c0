import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LocalBlobStore } from '../../blob/local-blob-store.js'
import { KyselyMetadataStore } from '../../db/kysely-metadata-store.js'
import type { StoredFile } from '../../db/metadata-store.js'
import { PermanentJobError } from '../../jobs/job-runner.js'
import { ExtractionPool } from './extraction-pool.js'
import { ExtractionService } from './extraction-service.js'

// The smallest valid PNG header: signature and IHDR of a 1×1 image.
const PNG_HEAD = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')

const limits = { maxPages: 10, maxDecompressedBytes: 1 << 20, maxTextChars: 10_000, maxSheetRows: 100 }

describe('ExtractionService.handleJob', () => {
  let dir: string
  let metadata: KyselyMetadataStore
  let blobs: LocalBlobStore
  let pool: ExtractionPool
  let extraction: ExtractionService

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cabinet-extraction-'))
    metadata = await KyselyMetadataStore.openSqlite(join(dir, 'cabinet.db'))
    blobs = await LocalBlobStore.create({ rootDir: join(dir, 'blobs') })
    pool = new ExtractionPool({ threads: 1, heapMb: 64, timeoutMs: 10_000, idleTimeoutMs: 1_000 })
    extraction = new ExtractionService(metadata, blobs, pool, { limits, maxFileBytes: 1 << 20 }, pino({ level: 'silent' }))
  })
  afterEach(async () => {
    await Promise.all([pool.close(), metadata.close(), blobs.close()])
    await rm(dir, { recursive: true, force: true })
  })

  /** A ready PNG with its extraction queued, stored (or not) as given; the claimed job. */
  function readyPng(options: { storeBlob: boolean }) {
    return readyFile({ name: 'photo.png', kind: 'png', mimeType: 'image/png', bytes: PNG_HEAD, storeBlob: options.storeBlob })
  }

  async function readyFile(options: { name: string; kind: StoredFile['kind']; mimeType: string; bytes: Buffer; storeBlob: boolean }) {
    const id = randomBytes(16).toString('hex')
    const blobKey = `${id.slice(0, 2)}/${id}`
    if (options.storeBlob) await blobs.put(blobKey, Readable.from([options.bytes]))
    const file: StoredFile = {
      id,
      userId: 'alice',
      status: 'ready',
      originalName: options.name,
      kind: options.kind,
      mimeType: options.mimeType,
      blobKey,
      sizeBytes: options.bytes.length,
      sha256: '0'.repeat(64),
      uploadedAt: new Date(),
      pinned: false,
    }
    expect(await metadata.files.importReady(file)).toBe(true)
    expect(await metadata.extractions.queueMissing({ limit: 10, job: (fileId) => extraction.jobFor(fileId) })).toBe(1)
    const job = await metadata.jobs.claim({ kinds: ['extract-file'], workerId: 'w1', leaseMs: 60_000 })
    expect(job?.payload).toEqual({ fileId: id })
    return { id, job: job! }
  }

  it('reads an image\'s facts', async () => {
    const { id, job } = await readyPng({ storeBlob: true })
    await extraction.handleJob(job)
    expect(await extraction.textOf(id)).toMatchObject({ status: 'done', image: { format: 'png', width: 1, height: 1 } })
  })

  it('fails at once, with a reason, for a file whose stored bytes are missing: no retry can bring them back', async () => {
    const { id, job } = await readyPng({ storeBlob: false })
    const attempt = extraction.handleJob(job)
    await expect(attempt).rejects.toBeInstanceOf(PermanentJobError)
    await expect(attempt).rejects.toThrow(/stored bytes are missing/)
    expect(await extraction.textOf(id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/stored bytes are missing.*cabinet verify/) })
  })

  it('fails at once, without reading it, for a document over the extraction size cap', async () => {
    // Extraction holds a whole document in memory: past the cap it is not read at all.
    const { id, job } = await readyFile({ name: 'big.pdf', kind: 'pdf', mimeType: 'application/pdf', bytes: Buffer.alloc((1 << 20) + 1), storeBlob: true })
    const reads: string[] = []
    const counting = Object.assign(Object.create(blobs) as LocalBlobStore, {
      get: ((key, options) => (reads.push(key), blobs.get(key, options))) satisfies typeof blobs.get,
    })
    const capped = new ExtractionService(metadata, counting, pool, { limits, maxFileBytes: 1 << 20 }, pino({ level: 'silent' }))
    const attempt = capped.handleJob(job)
    await expect(attempt).rejects.toBeInstanceOf(PermanentJobError)
    expect(reads).toEqual([])
    expect(await capped.textOf(id)).toMatchObject({ status: 'failed', error: 'The file is larger than the 1 MiB that extraction reads' })
  })

  it('ends quietly when the file is deleted while its bytes are being read', async () => {
    const { id, job } = await readyPng({ storeBlob: true })
    // The user's delete lands between the job finding the file and reading it: hidden, then its bytes removed.
    const deleting: typeof blobs.get = async (key, options) => {
      expect(await metadata.files.markDeleting(id, 'alice')).toBeDefined()
      await blobs.delete(key)
      return blobs.get(key, options)
    }
    const racing = new ExtractionService(metadata, Object.assign(Object.create(blobs) as LocalBlobStore, { get: deleting }), pool, { limits, maxFileBytes: 1 << 20 }, pino({ level: 'silent' }))
    await expect(racing.handleJob(job)).resolves.toBeUndefined()
    expect(await racing.textOf(id)).toBeUndefined()
  })
})
