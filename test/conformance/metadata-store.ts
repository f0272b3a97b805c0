import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ExtractionOutcome, MetadataStore, NewPendingFile, StoredFile, TokenRecord } from '../../src/db/metadata-store.js'
import type { EnqueueOptions, JobQueue } from '../../src/jobs/job-queue.js'

/** What a conformance run needs from an adapter: a fresh, migrated, empty store and a way to throw it away. */
export interface MetadataStoreFixture {
  readonly store: MetadataStore
  /** The job queue in the same database (extraction jobs are queued with uploads). */
  readonly jobs: JobQueue
  cleanup(): Promise<void>
}

const SHA = 'ab'.repeat(32)
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0)

function newId(): string {
  return randomBytes(16).toString('hex')
}

function pending(overrides: Partial<NewPendingFile> = {}): NewPendingFile {
  const id = overrides.id ?? newId()
  return {
    id,
    userId: 'alice',
    originalName: 'photo.jpg',
    kind: 'jpg',
    mimeType: 'image/jpeg',
    blobKey: `${id.slice(0, 2)}/${id.slice(2, 4)}/${id}`,
    createdAt: new Date(T0),
    ...overrides,
  }
}

function token(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: randomBytes(8).toString('hex'),
    userId: 'alice',
    secretHash: 'cd'.repeat(32),
    createdAt: new Date(T0),
    expiresAt: undefined,
    revokedAt: undefined,
    admin: false,
    ...overrides,
  }
}

/**
 * The MetadataStore contract (src/db/metadata-store.ts) that every adapter must pass
 * against its real database. Each test gets a fresh, migrated, empty store from `factory`.
 */
export function describeMetadataStore(name: string, factory: () => Promise<MetadataStoreFixture>): void {
  describe(`MetadataStore conformance: ${name}`, () => {
    let fixture: MetadataStoreFixture
    let store: MetadataStore
    let jobs: JobQueue

    beforeEach(async () => {
      fixture = await factory()
      store = fixture.store
      jobs = fixture.jobs
    })

    afterEach(async () => {
      await fixture.store.close()
      await fixture.cleanup()
    })

    /** Inserts a pending file and marks it ready at `uploadedAtMs`. */
    async function ready(overrides: Partial<NewPendingFile> & { uploadedAtMs?: number; sizeBytes?: number } = {}): Promise<StoredFile> {
      const { uploadedAtMs = T0, sizeBytes = 100, ...rest } = overrides
      const file = pending(rest)
      await store.files.insertPending(file)
      return store.files.markReady(file.id, { sizeBytes, sha256: SHA, uploadedAt: new Date(uploadedAtMs) })
    }

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
    })

    describe('files: pending to ready', () => {
      it('a pending file is visible to neither findReady nor listReady', async () => {
        const file = pending()
        await store.files.insertPending(file)
        expect(await store.files.findReady(file.id)).toBeUndefined()
        expect(await store.files.listReady('alice', { limit: 10 })).toEqual([])
      })

      it('markReady makes it visible with every field round-tripped', async () => {
        const file = pending({
          userId: 'wx:oAbC-123_x@y.z',
          originalName: '报告 2025 – final ✓.pdf',
          kind: 'pdf',
          mimeType: 'application/pdf',
        })
        await store.files.insertPending(file)
        const sizeBytes = 2 ** 32 + 12_345 // larger than any 32-bit column
        const uploadedAt = new Date(T0 + 1234)
        const marked = await store.files.markReady(file.id, { sizeBytes, sha256: SHA, uploadedAt })

        const expected: StoredFile = {
          id: file.id,
          userId: 'wx:oAbC-123_x@y.z',
          status: 'ready',
          originalName: '报告 2025 – final ✓.pdf',
          kind: 'pdf',
          mimeType: 'application/pdf',
          blobKey: file.blobKey,
          sizeBytes,
          sha256: SHA,
          uploadedAt,
        }
        expect(marked).toEqual(expected)
        expect(await store.files.findReady(file.id)).toEqual(expected)
        expect(await store.files.listReady(file.userId, { limit: 10 })).toEqual([expected])
      })

      it('round-trips a name of only 报告.pdf and a size near the 53-bit limit', async () => {
        const file = await ready({ originalName: '报告.pdf', kind: 'pdf', mimeType: 'application/pdf', sizeBytes: 2 ** 40 + 1 })
        const found = await store.files.findReady(file.id)
        expect(found?.originalName).toBe('报告.pdf')
        expect(found?.sizeBytes).toBe(2 ** 40 + 1)
        expect(typeof found?.sizeBytes).toBe('number')
      })

      it('markReady twice throws, and the first result stands', async () => {
        const file = await ready({ sizeBytes: 10 })
        await expect(store.files.markReady(file.id, { sizeBytes: 99, sha256: 'ef'.repeat(32), uploadedAt: new Date(T0 + 5) })).rejects.toThrow()
        expect(await store.files.findReady(file.id)).toMatchObject({ sizeBytes: 10, sha256: SHA, uploadedAt: new Date(T0) })
      })

      it('markReady of an unknown id throws', async () => {
        await expect(store.files.markReady(newId(), { sizeBytes: 1, sha256: SHA, uploadedAt: new Date(T0) })).rejects.toThrow()
      })

      it('findReady of an unknown id is undefined', async () => {
        expect(await store.files.findReady(newId())).toBeUndefined()
      })
    })

    describe('files: listReady', () => {
      it('lists newest first, ties broken by id descending', async () => {
        const ids = ['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32), 'd'.repeat(32)]
        await ready({ id: ids[0], uploadedAtMs: T0 + 2000 })
        await ready({ id: ids[1], uploadedAtMs: T0 + 1000 })
        await ready({ id: ids[2], uploadedAtMs: T0 + 1000 })
        await ready({ id: ids[3], uploadedAtMs: T0 })
        const listed = await store.files.listReady('alice', { limit: 10 })
        expect(listed.map((f) => f.id)).toEqual([ids[0], ids[2], ids[1], ids[3]])
      })

      it('respects limit', async () => {
        for (let i = 0; i < 5; i++) await ready({ uploadedAtMs: T0 + i })
        expect(await store.files.listReady('alice', { limit: 3 })).toHaveLength(3)
      })

      it('cursor pagination yields every file exactly once, in order, across tied times', async () => {
        const all: StoredFile[] = []
        // 23 files over 7 distinct times, so pages break inside groups of equal uploadedAt.
        for (let i = 0; i < 23; i++) all.push(await ready({ uploadedAtMs: T0 + (i % 7) * 1000 }))
        const expectedOrder = [...all]
          .sort((a, b) => b.uploadedAt.getTime() - a.uploadedAt.getTime() || (a.id < b.id ? 1 : -1))
          .map((f) => f.id)

        for (const pageSize of [1, 4, 5, 23, 50]) {
          const seen: string[] = []
          let after: { uploadedAtMs: number; id: string } | undefined
          for (let pages = 0; pages < 100; pages++) {
            const page = await store.files.listReady('alice', { limit: pageSize, ...(after ? { after } : {}) })
            seen.push(...page.map((f) => f.id))
            const last = page.at(-1)
            if (page.length < pageSize || !last) break
            after = { uploadedAtMs: last.uploadedAt.getTime(), id: last.id }
          }
          expect({ pageSize, seen }).toEqual({ pageSize, seen: expectedOrder })
        }
      })

      it('filters by kinds; an empty kinds list matches nothing', async () => {
        const jpg = await ready({ kind: 'jpg' })
        const pdf = await ready({ kind: 'pdf', mimeType: 'application/pdf', uploadedAtMs: T0 + 1 })
        const docx = await ready({ kind: 'docx', uploadedAtMs: T0 + 2 })
        const ids = async (kinds?: string[]) =>
          (await store.files.listReady('alice', { limit: 10, ...(kinds ? { kinds } : {}) })).map((f) => f.id)
        expect(await ids(['pdf'])).toEqual([pdf.id])
        expect(await ids(['jpg', 'docx'])).toEqual([docx.id, jpg.id])
        expect(await ids(['png'])).toEqual([])
        expect(await ids([])).toEqual([])
        expect(await ids()).toEqual([docx.id, pdf.id, jpg.id])
      })

      it("never lists another user's files", async () => {
        const mine = await ready({ userId: 'alice' })
        await ready({ userId: 'bob', uploadedAtMs: T0 + 10 })
        await ready({ userId: 'alice2', uploadedAtMs: T0 + 20 })
        expect((await store.files.listReady('alice', { limit: 10 })).map((f) => f.id)).toEqual([mine.id])
        expect(await store.files.listReady('carol', { limit: 10 })).toEqual([])
      })
    })

    describe('files: markDeleting and remove', () => {
      it('hides a ready file of its owner and returns it', async () => {
        const file = await ready()
        const hidden = await store.files.markDeleting(file.id, 'alice')
        expect(hidden).toMatchObject({ id: file.id, userId: 'alice', blobKey: file.blobKey })
        expect(await store.files.findReady(file.id)).toBeUndefined()
        expect(await store.files.listReady('alice', { limit: 10 })).toEqual([])
      })

      it("returns undefined and changes nothing for another user's file", async () => {
        const file = await ready()
        expect(await store.files.markDeleting(file.id, 'bob')).toBeUndefined()
        expect(await store.files.findReady(file.id)).toEqual(file)
      })

      it('returns undefined for a pending file, an already deleting file and an unknown id', async () => {
        const file = pending()
        await store.files.insertPending(file)
        expect(await store.files.markDeleting(file.id, 'alice')).toBeUndefined()

        const once = await ready()
        expect(await store.files.markDeleting(once.id, 'alice')).toBeDefined()
        expect(await store.files.markDeleting(once.id, 'alice')).toBeUndefined()

        expect(await store.files.markDeleting(newId(), 'alice')).toBeUndefined()
      })

      it('remove deletes the row whatever its status', async () => {
        const readyFile = await ready()
        const pendingFile = pending()
        await store.files.insertPending(pendingFile)
        const deleting = await ready()
        await store.files.markDeleting(deleting.id, 'alice')

        for (const id of [readyFile.id, pendingFile.id, deleting.id]) await store.files.remove(id)
        expect(await store.files.findReady(readyFile.id)).toBeUndefined()
        expect(await store.files.listReady('alice', { limit: 10 })).toEqual([])
        expect(await store.files.findAbandoned({ pendingCreatedBefore: new Date(T0 + 3_600_000), limit: 10 })).toEqual([])
        await expect(store.files.markReady(pendingFile.id, { sizeBytes: 1, sha256: SHA, uploadedAt: new Date(T0) })).rejects.toThrow()
      })
    })

    describe('files: findAbandoned', () => {
      it('returns deleting rows and only the pending rows created before the cutoff', async () => {
        const cutoff = T0
        const oldPending = pending({ createdAt: new Date(cutoff - 1) })
        const atCutoff = pending({ createdAt: new Date(cutoff) })
        const freshPending = pending({ createdAt: new Date(cutoff + 60_000) })
        for (const file of [oldPending, atCutoff, freshPending]) await store.files.insertPending(file)
        await ready({ createdAt: new Date(cutoff - 3_600_000) })
        const deleting = await ready({ createdAt: new Date(cutoff + 60_000) })
        await store.files.markDeleting(deleting.id, 'alice')

        const abandoned = await store.files.findAbandoned({ pendingCreatedBefore: new Date(cutoff), limit: 100 })
        expect([...abandoned].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(
          [
            { id: oldPending.id, blobKey: oldPending.blobKey, status: 'pending' },
            { id: deleting.id, blobKey: deleting.blobKey, status: 'deleting' },
          ].sort((a, b) => (a.id < b.id ? -1 : 1)),
        )
      })

      it('returns at most limit rows', async () => {
        for (let i = 0; i < 5; i++) await store.files.insertPending(pending({ createdAt: new Date(T0 - 10_000) }))
        expect(await store.files.findAbandoned({ pendingCreatedBefore: new Date(T0), limit: 3 })).toHaveLength(3)
      })
    })

    describe('tokens', () => {
      it('insert then findById round-trips every field', async () => {
        const forever = token()
        const expiring = token({ userId: 'bob', expiresAt: new Date(T0 + 86_400_000), admin: true })
        await store.tokens.insert(forever)
        await store.tokens.insert(expiring)
        expect(await store.tokens.findById(forever.id)).toEqual(forever)
        expect(await store.tokens.findById(expiring.id)).toEqual(expiring)
        expect(await store.tokens.findById('0'.repeat(16))).toBeUndefined()
      })

      it('revoke marks the token once: the second revoke returns false', async () => {
        const record = token()
        await store.tokens.insert(record)
        const at = new Date(T0 + 5000)
        expect(await store.tokens.revoke(record.id, at)).toBe(true)
        expect((await store.tokens.findById(record.id))?.revokedAt).toEqual(at)
        expect(await store.tokens.revoke(record.id, new Date(T0 + 9000))).toBe(false)
        expect((await store.tokens.findById(record.id))?.revokedAt).toEqual(at)
      })

      it('revoke of an unknown id returns false', async () => {
        expect(await store.tokens.revoke('f'.repeat(16), new Date(T0))).toBe(false)
      })

      it('list returns one user’s tokens, or everyone’s without a user', async () => {
        const a1 = token({ userId: 'alice' })
        const a2 = token({ userId: 'alice', createdAt: new Date(T0 + 1) })
        const b1 = token({ userId: 'bob' })
        for (const record of [a1, a2, b1]) await store.tokens.insert(record)
        const ids = (records: TokenRecord[]) => records.map((r) => r.id).sort()
        expect(ids(await store.tokens.list('alice'))).toEqual([a1.id, a2.id].sort())
        expect(await store.tokens.list('bob')).toEqual([b1])
        expect(await store.tokens.list('carol')).toEqual([])
        expect(ids(await store.tokens.list())).toEqual([a1.id, a2.id, b1.id].sort())
      })
    })

    describe('extractions', () => {
      const extractionJob = (fileId: string): EnqueueOptions => ({ kind: 'extract-file', payload: { fileId }, dedupeKey: `extract-file:${fileId}`, maxAttempts: 3 })
      const outcome = (overrides: Partial<ExtractionOutcome> = {}): ExtractionOutcome => ({
        status: 'done',
        layout: 'pages',
        parts: [{ text: 'First page: 季度报告 🙂' }, { text: 'Second page' }],
        facts: { pageCount: 2, truncated: false },
        wordCount: 8,
        ...overrides,
      })

      /** A ready file whose extraction was queued with it, as uploads do. */
      async function uploaded(overrides: Partial<NewPendingFile> & { uploadedAtMs?: number } = {}): Promise<StoredFile> {
        const { uploadedAtMs = T0, ...rest } = overrides
        const file = pending(rest)
        await store.files.insertPending(file)
        return store.files.markReady(file.id, { sizeBytes: 10, sha256: SHA, uploadedAt: new Date(uploadedAtMs) }, { extractionJob: extractionJob(file.id) })
      }

      it('markReady with an extraction job queues it and records the extraction as pending, together', async () => {
        const file = await uploaded()
        const record = await store.extractions.find(file.id)
        expect(record).toMatchObject({ fileId: file.id, userId: 'alice', status: 'pending', error: undefined, parts: [], content: '', wordCount: 0 })
        const job = await jobs.get(record!.jobId!)
        expect(job).toMatchObject({ kind: 'extract-file', payload: { fileId: file.id }, state: 'queued', maxAttempts: 3 })
      })

      it('markReady with an extraction job changes nothing when the upload is no longer pending', async () => {
        const file = pending()
        await expect(store.files.markReady(file.id, { sizeBytes: 1, sha256: SHA, uploadedAt: new Date() }, { extractionJob: extractionJob(file.id) })).rejects.toThrow()
        expect(await store.extractions.find(file.id)).toBeUndefined()
        expect(await jobs.claim({ kinds: ['extract-file'], workerId: 'w', leaseMs: 1000 })).toBeUndefined()
      })

      it('saveResult keeps each part exactly, and the joined text', async () => {
        const file = await uploaded()
        expect(await store.extractions.saveResult(file.id, outcome())).toBe(true)
        const record = await store.extractions.find(file.id)
        expect(record).toMatchObject({
          status: 'done',
          layout: 'pages',
          parts: [{ text: 'First page: 季度报告 🙂' }, { text: 'Second page' }],
          content: 'First page: 季度报告 🙂\n\nSecond page',
          facts: { pageCount: 2, truncated: false },
          wordCount: 8,
        })
        await store.extractions.saveResult(file.id, outcome({ layout: 'sheets', parts: [{ name: '备注', text: '| a |' }], facts: { sheetCount: 1, truncated: true } }))
        expect((await store.extractions.find(file.id))?.parts).toEqual([{ name: '备注', text: '| a |' }])
      })

      it('saveResult and saveFailure answer false for a file without an extraction', async () => {
        expect(await store.extractions.saveResult(newId(), outcome())).toBe(false)
        expect(await store.extractions.saveFailure(newId(), 'nope')).toBe(false)
      })

      it('saveFailure marks the extraction failed with its reason', async () => {
        const file = await uploaded()
        expect(await store.extractions.saveFailure(file.id, 'The file decompresses to more than the limit')).toBe(true)
        expect(await store.extractions.find(file.id)).toMatchObject({ status: 'failed', error: 'The file decompresses to more than the limit' })
      })

      it('queueMissing queues ready files that have no extraction, once', async () => {
        const old = await ready()
        await ready({ userId: 'bob' }).then((f) => store.files.markDeleting(f.id, 'bob'))
        const withOne = await uploaded()
        expect(await store.extractions.queueMissing({ limit: 10, job: extractionJob })).toBe(1)
        expect(await store.extractions.queueMissing({ limit: 10, job: extractionJob })).toBe(0)
        const record = await store.extractions.find(old.id)
        expect(record?.status).toBe('pending')
        expect((await jobs.get(record!.jobId!))?.payload).toEqual({ fileId: old.id })
        expect((await store.extractions.find(withOne.id))?.jobId).not.toBe(record!.jobId)
      })

      it('failOrphaned fails pending extractions whose job failed for good, with its reason', async () => {
        const file = await uploaded()
        const healthy = await uploaded()
        const job = await jobs.claim({ kinds: ['extract-file'], workerId: 'w', leaseMs: 60_000 })
        const orphanId = (job!.payload as { fileId: string }).fileId
        await jobs.fail(job!.id, 'w', { error: 'worker crashed', retryable: false })
        expect(await store.extractions.failOrphaned({ limit: 10 })).toBe(1)
        expect(await store.extractions.find(orphanId)).toMatchObject({ status: 'failed', error: 'worker crashed' })
        const other = orphanId === file.id ? healthy : file
        expect((await store.extractions.find(other.id))?.status).toBe('pending')
      })

      it('goes with its file', async () => {
        const file = await uploaded()
        await store.extractions.saveResult(file.id, outcome())
        await store.files.markDeleting(file.id, 'alice')
        await store.files.remove(file.id)
        expect(await store.extractions.find(file.id)).toBeUndefined()
        expect(await store.search.search('alice', { terms: ['季度报告'], limit: 10, offset: 0 })).toEqual([])
      })

      describe('search', () => {
        const ids = (files: StoredFile[]) => files.map((file) => file.originalName)
        const find = (terms: string[], more: { userId?: string; kinds?: string[]; limit?: number; offset?: number } = {}) =>
          store.search.search(more.userId ?? 'alice', { terms, limit: more.limit ?? 20, offset: more.offset ?? 0, ...(more.kinds ? { kinds: more.kinds } : {}) })

        beforeEach(async () => {
          const a = await uploaded({ originalName: '季度报告.pdf', kind: 'pdf', uploadedAtMs: T0 + 1 })
          await store.extractions.saveResult(a.id, outcome({ parts: [{ text: 'Revenue grew 12% in 华东 this quarter.' }] }))
          const b = await uploaded({ originalName: 'notes.docx', kind: 'docx', uploadedAtMs: T0 + 2 })
          await store.extractions.saveResult(b.id, outcome({ layout: 'document', parts: [{ text: '会议纪要：季度报告已经完成 100%_done' }] }))
          const c = await uploaded({ originalName: 'photo.jpg', kind: 'jpg', uploadedAtMs: T0 + 3 })
          await store.extractions.saveResult(c.id, outcome({ layout: 'none', parts: [], facts: { truncated: false } }))
          await uploaded({ originalName: 'pending quarterly.xlsx', kind: 'xlsx', uploadedAtMs: T0 + 4 })
          const bob = await uploaded({ userId: 'bob', originalName: '季度报告-bob.pdf', kind: 'pdf' })
          await store.extractions.saveResult(bob.id, outcome({ parts: [{ text: 'Revenue grew 12% in 华东' }] }))
        })

        it('finds names and text, Chinese included, ranking name matches first', async () => {
          expect(ids(await find(['季度报告']))).toEqual(['季度报告.pdf', 'notes.docx'])
          expect(ids(await find(['会议纪要']))).toEqual(['notes.docx'])
          expect(ids(await find(['REVENUE']))).toEqual(['季度报告.pdf'])
        })

        it('answers one- and two-character queries (too short for trigrams) by substring', async () => {
          expect(ids(await find(['华东']))).toEqual(['季度报告.pdf'])
          expect(ids(await find(['报']))).toEqual(['季度报告.pdf', 'notes.docx'])
          expect(ids(await find(['季度', '会议']))).toEqual(['notes.docx'])
        })

        it('needs every term, mixing long and short ones', async () => {
          expect(ids(await find(['revenue', '华东']))).toEqual(['季度报告.pdf'])
          expect(ids(await find(['revenue', 'nowhere']))).toEqual([])
        })

        it('searches only the caller\'s files', async () => {
          expect(ids(await find(['季度报告'], { userId: 'bob' }))).toEqual(['季度报告-bob.pdf'])
          expect(await find(['季度报告'], { userId: 'carol' })).toEqual([])
        })

        it('finds a file by name while its extraction is pending', async () => {
          expect(ids(await find(['quarterly']))).toEqual(['pending quarterly.xlsx'])
        })

        it('filters by kind and pages by limit and offset', async () => {
          expect(ids(await find(['季度报告'], { kinds: ['docx'] }))).toEqual(['notes.docx'])
          expect(await find(['季度报告'], { kinds: [] })).toEqual([])
          expect(ids(await find(['季度报告'], { limit: 1 }))).toEqual(['季度报告.pdf'])
          expect(ids(await find(['季度报告'], { limit: 1, offset: 1 }))).toEqual(['notes.docx'])
        })

        it('treats LIKE wildcards and FTS syntax in a query as plain characters', async () => {
          expect(ids(await find(['%_d']))).toEqual(['notes.docx'])
          expect(ids(await find(['%']))).toEqual(['notes.docx', '季度报告.pdf'])
          expect(await find(['"quarterly" OR "x']).then((files) => files.length)).toBe(0)
          expect(await find(['a_b'])).toEqual([])
        })

        it('does not find files being deleted', async () => {
          const [file] = await find(['会议纪要'])
          await store.files.markDeleting(file!.id, 'alice')
          expect(await find(['会议纪要'])).toEqual([])
        })
      })
    })

    describe('derived blobs', () => {
      const blob = (fileId: string, variant = '256.webp') => ({ blobKey: `${fileId.slice(0, 2)}/${fileId.slice(2, 4)}/${fileId}.thumb-${variant}`, fileId, kind: 'thumbnail', variant, createdAt: new Date(T0) })

      it('records a derived blob of a ready file, then its size and hash', async () => {
        const file = await ready()
        const thumb = blob(file.id)
        expect(await store.derivedBlobs.begin(thumb)).toBe(true)
        expect(await store.derivedBlobs.find(thumb.blobKey)).toEqual({ ...thumb, sizeBytes: undefined, sha256: undefined })
        expect(await store.derivedBlobs.complete(thumb.blobKey, { sizeBytes: 1234, sha256: SHA })).toBe(true)
        expect(await store.derivedBlobs.find(thumb.blobKey)).toEqual({ ...thumb, sizeBytes: 1234, sha256: SHA })
        expect(await store.derivedBlobs.listForFile(file.id)).toEqual([{ ...thumb, sizeBytes: 1234, sha256: SHA }])
      })

      it('begins again over a stale row, forgetting its size and hash', async () => {
        const file = await ready()
        const thumb = blob(file.id)
        await store.derivedBlobs.begin(thumb)
        await store.derivedBlobs.complete(thumb.blobKey, { sizeBytes: 1, sha256: SHA })
        expect(await store.derivedBlobs.begin({ ...thumb, createdAt: new Date(T0 + 5) })).toBe(true)
        expect(await store.derivedBlobs.find(thumb.blobKey)).toMatchObject({ sizeBytes: undefined, sha256: undefined, createdAt: new Date(T0 + 5) })
      })

      it('records nothing for a pending, deleting or missing file', async () => {
        const waiting = pending()
        await store.files.insertPending(waiting)
        const going = await ready()
        await store.files.markDeleting(going.id, 'alice')
        for (const fileId of [waiting.id, going.id, newId()]) expect(await store.derivedBlobs.begin(blob(fileId))).toBe(false)
        expect(await store.derivedBlobs.complete(blob(going.id).blobKey, { sizeBytes: 1, sha256: SHA })).toBe(false)
      })

      it('goes with its file, and can be removed on its own', async () => {
        const file = await ready()
        await store.derivedBlobs.begin(blob(file.id, '256.webp'))
        await store.derivedBlobs.begin(blob(file.id, '1024.jpg'))
        await store.derivedBlobs.remove(blob(file.id, '1024.jpg').blobKey)
        expect((await store.derivedBlobs.listForFile(file.id)).map((b) => b.variant)).toEqual(['256.webp'])
        await store.files.markDeleting(file.id, 'alice')
        await store.files.remove(file.id)
        expect(await store.derivedBlobs.listForFile(file.id)).toEqual([])
      })
    })

    describe('settings', () => {
      it('getOrCreate stores the first value and returns it to every later caller', async () => {
        const values = await Promise.all(Array.from({ length: 8 }, (_, i) => store.settings.getOrCreate('secret', () => `value-${i}`)))
        expect(new Set(values).size).toBe(1)
        expect(await store.settings.getOrCreate('secret', () => 'late')).toBe(values[0])
        expect(await store.settings.getOrCreate('other', () => 'x')).toBe('x')
      })
    })
  })
}
