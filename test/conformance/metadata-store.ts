import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { QuotaExceededError, type ApiKeyRecord, type ExtractionOutcome, type GrantRecord, type MetadataStore, type NewPendingFile, type StoredFile, type TokenRecord } from '../../src/db/metadata-store.js'
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
const DAY = 86_400_000

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

function apiKey(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: randomBytes(8).toString('hex'),
    name: `agent-${randomBytes(3).toString('hex')}`,
    secretHash: 'ef'.repeat(32),
    scopes: ['files:read'],
    allUsers: false,
    createdAt: new Date(T0),
    expiresAt: undefined,
    revokedAt: undefined,
    ...overrides,
  }
}

const UNLIMITED = { maxBytes: Number.MAX_SAFE_INTEGER, maxFiles: Number.MAX_SAFE_INTEGER }

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
          pinned: false,
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

    describe('files: setPinned', () => {
      it("pins and unpins the owner's ready file, and nobody else's", async () => {
        const file = await ready()
        expect(await store.files.setPinned(file.id, 'alice', true)).toMatchObject({ id: file.id, pinned: true })
        expect((await store.files.findReady(file.id))?.pinned).toBe(true)
        expect(await store.files.setPinned(file.id, 'bob', false)).toBeUndefined()
        expect((await store.files.findReady(file.id))?.pinned).toBe(true)
        expect(await store.files.setPinned(file.id, 'alice', false)).toMatchObject({ pinned: false })
        const waiting = pending()
        await store.files.insertPending(waiting)
        expect(await store.files.setPinned(waiting.id, 'alice', true)).toBeUndefined()
        expect(await store.files.setPinned(newId(), 'alice', true)).toBeUndefined()
      })
    })

    describe('retention', () => {
      const NOW = new Date(T0 + 100 * DAY)
      const ids = (files: StoredFile[]) => files.map((f) => f.id).sort()

      it('finds ready, unpinned files past the global retention or their owner\'s own', async () => {
        const old = await ready({ uploadedAtMs: T0 })
        await ready({ uploadedAtMs: NOW.getTime() - DAY })
        const pinned = await ready({ uploadedAtMs: T0 })
        await store.files.setPinned(pinned.id, 'alice', true)
        const waiting = pending({ createdAt: new Date(T0) })
        await store.files.insertPending(waiting)
        const bobWithin = await ready({ userId: 'bob', uploadedAtMs: NOW.getTime() - 50 * DAY })
        const bobOld = await ready({ userId: 'bob', uploadedAtMs: NOW.getTime() - 200 * DAY, sizeBytes: 7 })
        await ready({ userId: 'carol', uploadedAtMs: T0 - 1000 * DAY })
        await store.retention.setPolicy('bob', 90 * DAY, NOW)
        await store.retention.setPolicy('carol', null, NOW)

        const query = { now: NOW, defaultRetentionMs: 30 * DAY }
        expect(ids(await store.retention.findExpired({ ...query, limit: 100 }))).toEqual([old.id, bobOld.id].sort())
        expect(await store.retention.countExpired(query)).toEqual({ files: 2, bytes: 107 })
        // No global retention: only users with their own expire.
        expect(ids(await store.retention.findExpired({ now: NOW, defaultRetentionMs: undefined, limit: 100 }))).toEqual([bobOld.id])
        expect(await store.retention.getPolicy('carol')).toEqual({ userId: 'carol', retentionMs: undefined, updatedAt: NOW })
        expect(await store.retention.getPolicy('bob')).toMatchObject({ retentionMs: 90 * DAY })
        expect(await store.retention.listPolicies()).toEqual([
          { userId: 'bob', retentionMs: 90 * DAY, updatedAt: NOW },
          { userId: 'carol', retentionMs: undefined, updatedAt: NOW },
        ])
        expect(await store.retention.clearPolicy('bob')).toBe(true)
        expect(await store.retention.clearPolicy('bob')).toBe(false)
        expect(ids(await store.retention.findExpired({ ...query, limit: 100 }))).toEqual([old.id, bobOld.id, bobWithin.id].sort())
      })

      it('pages in id order after afterId', async () => {
        for (let i = 0; i < 5; i++) await ready({ uploadedAtMs: T0 })
        const all = await store.retention.findExpired({ now: NOW, defaultRetentionMs: DAY, limit: 100 })
        const page = await store.retention.findExpired({ now: NOW, defaultRetentionMs: DAY, afterId: all[1]!.id, limit: 2 })
        expect(page.map((f) => f.id)).toEqual([all[2]!.id, all[3]!.id])
      })

      it('markExpiredDeleting hides a ready unpinned file, and refuses a pinned or gone one', async () => {
        const file = await ready()
        const pinned = await ready()
        await store.files.setPinned(pinned.id, 'alice', true)
        expect(await store.retention.markExpiredDeleting(file.id)).toMatchObject({ id: file.id, status: 'deleting' })
        expect(await store.files.findReady(file.id)).toBeUndefined()
        expect(await store.retention.markExpiredDeleting(file.id)).toBeUndefined()
        expect(await store.retention.markExpiredDeleting(pinned.id)).toBeUndefined()
        expect(await store.files.findReady(pinned.id)).toBeDefined()
      })

      it('markExpiredDeleting releases the file from its owner\'s usage, as a delete does', async () => {
        const pendingFile = pending()
        await store.files.insertPending(pendingFile)
        const file = await store.files.markReady(pendingFile.id, { sizeBytes: 300, sha256: SHA, uploadedAt: new Date(T0) }, { quota: UNLIMITED })
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 300, usedFiles: 1 })
        await store.retention.markExpiredDeleting(file.id)
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 0, usedFiles: 0 })
      })
    })

    describe('blobReferences', () => {
      it('lists every file blob whatever its status, says which keys are referenced, and what a file owns', async () => {
        const readyFile = await ready({ sizeBytes: 42 })
        const waiting = pending()
        await store.files.insertPending(waiting)
        const listed = []
        for await (const reference of store.blobReferences.list()) listed.push(reference)
        expect(listed.sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual(
          [
            { key: readyFile.blobKey, fileId: readyFile.id, fileStatus: 'ready', role: 'file', sizeBytes: 42, sha256: SHA },
            { key: waiting.blobKey, fileId: waiting.id, fileStatus: 'pending', role: 'file', sizeBytes: undefined, sha256: undefined },
          ].sort((a, b) => (a.key < b.key ? -1 : 1)),
        )
        expect(await store.blobReferences.referenced([readyFile.blobKey, 'ff/ff/nothing', waiting.blobKey])).toEqual(new Set([readyFile.blobKey, waiting.blobKey]))
        expect(await store.blobReferences.ownedBy(readyFile)).toEqual([readyFile.blobKey])
      })

      it('pages through more files than one page holds', async () => {
        for (let i = 0; i < 520; i++) await store.files.insertPending(pending())
        let count = 0
        for await (const reference of store.blobReferences.list()) count += reference.fileStatus === 'pending' ? 1 : 0
        expect(count).toBe(520)
      })
    })

    describe('jobRuns', () => {
      it('records runs; a scheduled tick is taken once; interrupted runs are marked; newest first', async () => {
        const tick = new Date(T0)
        const first = await store.jobRuns.start({ job: 'backup', triggeredBy: 'schedule', scheduledFor: tick, instance: 'a', startedAt: new Date(T0) })
        expect(first).toMatchObject({ job: 'backup', triggeredBy: 'schedule', scheduledFor: tick, outcome: 'running', instance: 'a' })
        expect(await store.jobRuns.start({ job: 'backup', triggeredBy: 'schedule', scheduledFor: tick, instance: 'b', startedAt: new Date(T0) })).toBeUndefined()
        expect(await store.jobRuns.start({ job: 'cleanup', triggeredBy: 'schedule', scheduledFor: tick, instance: 'b', startedAt: new Date(T0) })).toBeDefined()
        const cli1 = await store.jobRuns.start({ job: 'backup', triggeredBy: 'cli', instance: 'c', startedAt: new Date(T0 + 1000) })
        const cli2 = await store.jobRuns.start({ job: 'backup', triggeredBy: 'cli', instance: 'c', startedAt: new Date(T0 + 2000) })
        expect(cli1 && cli2).toBeTruthy()
        await store.jobRuns.finish(cli2!.id, { outcome: 'succeeded', finishedAt: new Date(T0 + 3000), summary: { files: 3, names: ['报告.pdf'] } })
        expect(await store.jobRuns.markInterrupted('backup', cli2!.id, new Date(T0 + 4000))).toBe(2)
        const runs = await store.jobRuns.list({ job: 'backup', limit: 10 })
        expect(runs.map((run) => [run.id, run.outcome])).toEqual([
          [cli2!.id, 'succeeded'],
          [cli1!.id, 'interrupted'],
          [first!.id, 'interrupted'],
        ])
        expect(runs[0]).toMatchObject({ summary: { files: 3, names: ['报告.pdf'] }, finishedAt: new Date(T0 + 3000), scheduledFor: undefined })
        expect(await store.jobRuns.list({ limit: 1 })).toHaveLength(1)
      })
    })

    describe('traffic', () => {
      it('adds to each day atomically and lists days from a given one', async () => {
        const one = { day: '2025-01-15', uploads: 1, uploadBytes: 10, downloads: 0, downloadBytes: 0 }
        await Promise.all(Array.from({ length: 5 }, () => store.traffic.add(one)))
        await store.traffic.add({ day: '2025-01-16', uploads: 0, uploadBytes: 0, downloads: 2, downloadBytes: 2 ** 40 })
        expect(await store.traffic.list('2025-01-01')).toEqual([
          { day: '2025-01-15', uploads: 5, uploadBytes: 50, downloads: 0, downloadBytes: 0 },
          { day: '2025-01-16', uploads: 0, uploadBytes: 0, downloads: 2, downloadBytes: 2 ** 40 },
        ])
        expect((await store.traffic.list('2025-01-16')).map((d) => d.day)).toEqual(['2025-01-16'])
      })
    })

    describe('stats', () => {
      it('totals, by kind, top users and largest count ready files only', async () => {
        expect(await store.stats.totals()).toEqual({ files: 0, bytes: 0, pinned: 0, users: 0 })
        const big = await ready({ userId: 'bob', kind: 'pdf', sizeBytes: 2 ** 33 })
        await ready({ sizeBytes: 10 })
        const pinned = await ready({ sizeBytes: 20 })
        await store.files.setPinned(pinned.id, 'alice', true)
        await store.files.insertPending(pending())
        expect(await store.stats.totals()).toEqual({ files: 3, bytes: 2 ** 33 + 30, pinned: 1, users: 2 })
        expect(await store.stats.byKind()).toEqual([
          { kind: 'jpg', files: 2, bytes: 30 },
          { kind: 'pdf', files: 1, bytes: 2 ** 33 },
        ])
        expect(await store.stats.topUsers(1)).toEqual([{ userId: 'bob', files: 1, bytes: 2 ** 33 }])
        expect((await store.stats.largest(2)).map((f) => f.id)).toEqual([big.id, pinned.id])
        expect(await store.sizeBytes()).toBeGreaterThan(0)
      })
    })

    describe('snapshot', () => {
      it('writes a snapshot file and the references as of that snapshot', async () => {
        const file = await ready({ sizeBytes: 5 })
        const dir = await mkdtemp(join(tmpdir(), 'cabinet-snapshot-'))
        try {
          const snapshot = await store.snapshot(join(dir, 'metadata'))
          expect(snapshot.format).toBe(store.dialect === 'sqlite' ? 'sqlite' : 'pg_dump')
          expect((await stat(snapshot.path)).size).toBeGreaterThan(0)
          expect(snapshot.blobReferences).toEqual([{ key: file.blobKey, fileId: file.id, fileStatus: 'ready', role: 'file', sizeBytes: 5, sha256: SHA }])
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      })
    })

    describe('users: quota accounting', () => {
      async function readyWithin(quota: { maxBytes: number; maxFiles: number }, overrides: Partial<NewPendingFile> & { sizeBytes: number }) {
        const { sizeBytes, ...rest } = overrides
        const file = pending(rest)
        await store.files.insertPending(file)
        return store.files.markReady(file.id, { sizeBytes, sha256: SHA, uploadedAt: new Date(T0) }, { quota })
      }

      it('a user never seen has zero usage and no limits of their own', async () => {
        expect(await store.users.usage('nobody')).toEqual({ userId: 'nobody', usedBytes: 0, usedFiles: 0, maxBytes: undefined, maxFiles: undefined })
      })

      it('markReady with a quota counts the file; markDeleting releases it; other users are untouched', async () => {
        const a = await readyWithin(UNLIMITED, { sizeBytes: 300 })
        await readyWithin(UNLIMITED, { sizeBytes: 2 ** 40 })
        await readyWithin(UNLIMITED, { userId: 'bob', sizeBytes: 7 })
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 2 ** 40 + 300, usedFiles: 2 })
        await store.files.markDeleting(a.id, 'alice')
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 2 ** 40, usedFiles: 1 })
        // Removing the hidden row (the end of a delete, or recovery of a half-done one) changes nothing more.
        await store.files.remove(a.id)
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 2 ** 40, usedFiles: 1 })
        expect(await store.users.usage('bob')).toMatchObject({ usedBytes: 7, usedFiles: 1 })
      })

      it('markReady without a quota still counts the file', async () => {
        await ready({ sizeBytes: 42 })
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 42, usedFiles: 1 })
      })

      it('refuses a file over the default byte limit with the numbers, and leaves it pending and uncounted', async () => {
        await readyWithin({ maxBytes: 1000, maxFiles: 10 }, { sizeBytes: 900 })
        const file = pending()
        await store.files.insertPending(file)
        const error = await store.files.markReady(file.id, { sizeBytes: 101, sha256: SHA, uploadedAt: new Date(T0) }, { quota: { maxBytes: 1000, maxFiles: 10 } }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(QuotaExceededError)
        expect(error).toMatchObject({ incomingBytes: 101, limits: { maxBytes: 1000, maxFiles: 10 }, usage: { usedBytes: 900, usedFiles: 1 } })
        expect(await store.files.findReady(file.id)).toBeUndefined()
        expect(await store.files.findAbandoned({ pendingCreatedBefore: new Date(T0 + 1), limit: 10 })).toEqual([{ id: file.id, blobKey: file.blobKey, status: 'pending' }])
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 900, usedFiles: 1 })
        // Exactly at the limit fits.
        await expect(readyWithin({ maxBytes: 1000, maxFiles: 10 }, { sizeBytes: 100 })).resolves.toBeDefined()
      })

      it('refuses a file over the file-count limit', async () => {
        await readyWithin({ maxBytes: 10_000, maxFiles: 2 }, { sizeBytes: 1 })
        await readyWithin({ maxBytes: 10_000, maxFiles: 2 }, { sizeBytes: 1 })
        await expect(readyWithin({ maxBytes: 10_000, maxFiles: 2 }, { sizeBytes: 1 })).rejects.toBeInstanceOf(QuotaExceededError)
      })

      it("a user's own limits override the default, and null returns them to it", async () => {
        expect(await store.users.setQuota('alice', { maxBytes: 50 }, new Date(T0))).toMatchObject({ maxBytes: 50, maxFiles: undefined, usedBytes: 0 })
        await expect(readyWithin(UNLIMITED, { sizeBytes: 51 })).rejects.toMatchObject({ limits: { maxBytes: 50, maxFiles: Number.MAX_SAFE_INTEGER } })
        await store.users.setQuota('alice', { maxFiles: 1 }, new Date(T0))
        expect(await store.users.usage('alice')).toMatchObject({ maxBytes: 50, maxFiles: 1 })
        await readyWithin(UNLIMITED, { sizeBytes: 50 })
        await expect(readyWithin(UNLIMITED, { sizeBytes: 0 })).rejects.toBeInstanceOf(QuotaExceededError)
        await store.users.setQuota('alice', { maxBytes: null, maxFiles: null }, new Date(T0))
        expect(await store.users.usage('alice')).toMatchObject({ maxBytes: undefined, maxFiles: undefined, usedBytes: 50, usedFiles: 1 })
        await expect(readyWithin({ maxBytes: 10_000, maxFiles: 10 }, { sizeBytes: 1000 })).resolves.toBeDefined()
        // A raised own limit beats a lower default.
        await store.users.setQuota('alice', { maxBytes: 1_000_000 }, new Date(T0))
        await expect(readyWithin({ maxBytes: 10, maxFiles: 10 }, { sizeBytes: 5000 })).resolves.toBeDefined()
      })

      it('is exact when 20 files race for room for 7', async () => {
        const quota = { maxBytes: 700, maxFiles: 1000 }
        const files = Array.from({ length: 20 }, () => pending())
        for (const file of files) await store.files.insertPending(file)
        const results = await Promise.allSettled(
          files.map((file) => store.files.markReady(file.id, { sizeBytes: 100, sha256: SHA, uploadedAt: new Date(T0) }, { quota })),
        )
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7)
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(QuotaExceededError)
        expect(await store.users.usage('alice')).toMatchObject({ usedBytes: 700, usedFiles: 7 })
        expect(await store.files.listReady('alice', { limit: 50 })).toHaveLength(7)
      })

      it('recountUsage sets every user\'s usage from their ready files, keeping their own limits', async () => {
        await ready({ sizeBytes: 10 })
        await ready({ sizeBytes: 20 })
        const gone = await ready({ userId: 'bob', sizeBytes: 5 })
        await store.users.setQuota('alice', { maxFiles: 9 }, new Date(T0))
        await store.users.setQuota('carol', { maxBytes: 1 }, new Date(T0))
        // Rows changed behind Cabinet's back: usage no longer matches.
        await store.files.remove(gone.id)
        await store.files.importReady({ ...(await ready({ sizeBytes: 1 })), id: newId(), userId: 'dave' })
        await store.users.recountUsage(new Date(T0))
        expect(await store.users.usage('alice')).toEqual({ userId: 'alice', usedBytes: 31, usedFiles: 3, maxBytes: undefined, maxFiles: 9 })
        expect(await store.users.usage('bob')).toMatchObject({ usedBytes: 0, usedFiles: 0 })
        expect(await store.users.usage('carol')).toMatchObject({ usedBytes: 0, usedFiles: 0, maxBytes: 1 })
        expect(await store.users.usage('dave')).toMatchObject({ usedBytes: 1, usedFiles: 1 })
      })

      it('importReady counts the imported file once', async () => {
        const file: StoredFile = { ...(await ready({ userId: 'zed', sizeBytes: 5 })), id: newId() }
        expect(await store.files.importReady(file)).toBe(true)
        expect(await store.files.importReady(file)).toBe(false)
        expect(await store.users.usage('zed')).toMatchObject({ usedBytes: 10, usedFiles: 2 })
      })
    })

    describe('users: WeChat sign-in', () => {
      const at = new Date(T0)
      it('links a new openid to the new user id, and finds it again', async () => {
        const identity = { appId: 'wxapp', openid: 'o-1', unionid: undefined }
        expect(await store.users.signInWechat(identity, 'wx-aaaa', at)).toEqual({ userId: 'wx-aaaa', created: true })
        expect(await store.users.signInWechat(identity, 'wx-bbbb', at)).toEqual({ userId: 'wx-aaaa', created: false })
        expect(await store.users.usage('wx-aaaa')).toMatchObject({ usedBytes: 0, usedFiles: 0 })
      })

      it('the same openid under another app id is another identity, unless the unionid matches', async () => {
        await store.users.signInWechat({ appId: 'app1', openid: 'o-1', unionid: 'u-1' }, 'wx-1', at)
        expect((await store.users.signInWechat({ appId: 'app2', openid: 'o-1', unionid: undefined }, 'wx-2', at)).userId).toBe('wx-2')
        expect(await store.users.signInWechat({ appId: 'app3', openid: 'o-3', unionid: 'u-1' }, 'wx-3', at)).toEqual({ userId: 'wx-1', created: false })
      })

      it('concurrent first sign-ins of one identity agree on one user', async () => {
        const identity = { appId: 'wxapp', openid: 'o-race', unionid: undefined }
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.users.signInWechat(identity, `wx-${i}`, at)))
        expect(new Set(results.map((r) => r.userId)).size).toBe(1)
        expect(results.filter((r) => r.created)).toHaveLength(1)
      })

      it('exports and imports users with own limits and WeChat links', async () => {
        await store.users.signInWechat({ appId: 'wxapp', openid: 'o-9', unionid: 'u-9' }, 'wx-9', at)
        await store.users.setQuota('alice', { maxFiles: 3 }, at)
        const data = await store.users.exportAll()
        expect(data.wechat).toEqual([{ appId: 'wxapp', openid: 'o-9', unionid: 'u-9', userId: 'wx-9', createdAt: at }])
        expect(data.users.find((u) => u.userId === 'alice')).toMatchObject({ maxFiles: 3, maxBytes: undefined })
      })
    })

    describe('api keys', () => {
      it('insert then findById and findActiveByName round-trip every field', async () => {
        const key = apiKey({ scopes: ['files:read', 'files:write', 'chat'], allUsers: true, expiresAt: new Date(T0 + 1000) })
        await store.apiKeys.insert(key)
        expect(await store.apiKeys.findById(key.id)).toEqual(key)
        expect(await store.apiKeys.findActiveByName(key.name)).toEqual(key)
        expect(await store.apiKeys.findById('0'.repeat(16))).toBeUndefined()
      })

      it('one active key per name; a revoked key frees its name', async () => {
        const first = apiKey({ name: 'openclaw' })
        await store.apiKeys.insert(first)
        await expect(store.apiKeys.insert(apiKey({ name: 'openclaw' }))).rejects.toThrow()
        expect(await store.apiKeys.revoke(first.id, new Date(T0 + 1))).toBe(true)
        expect(await store.apiKeys.revoke(first.id, new Date(T0 + 2))).toBe(false)
        expect((await store.apiKeys.findById(first.id))?.revokedAt).toEqual(new Date(T0 + 1))
        expect(await store.apiKeys.findActiveByName('openclaw')).toBeUndefined()
        const second = apiKey({ name: 'openclaw' })
        await store.apiKeys.insert(second)
        expect((await store.apiKeys.findActiveByName('openclaw'))?.id).toBe(second.id)
        expect((await store.apiKeys.list()).map((k) => k.id).sort()).toEqual([first.id, second.id].sort())
      })
    })

    describe('grants', () => {
      it('findActive sees only an unrevoked, unexpired grant of that key for that file', async () => {
        const file = await ready()
        const other = await ready()
        const key = apiKey()
        const otherKey = apiKey()
        for (const k of [key, otherKey]) await store.apiKeys.insert(k)
        const grant = { id: newId(), fileId: file.id, keyId: key.id, grantedBy: 'alice', createdAt: new Date(T0), expiresAt: new Date(T0 + 60_000), revokedAt: undefined }
        await store.grants.insert(grant)
        expect(await store.grants.findActive(key.id, file.id, new Date(T0 + 59_999))).toEqual(grant)
        expect(await store.grants.findActive(key.id, file.id, new Date(T0 + 60_000))).toBeUndefined()
        expect(await store.grants.findActive(otherKey.id, file.id, new Date(T0))).toBeUndefined()
        expect(await store.grants.findActive(key.id, other.id, new Date(T0))).toBeUndefined()
        expect(await store.grants.revoke(grant.id, other.id, new Date(T0 + 1))).toBe(false)
        expect(await store.grants.revoke(grant.id, file.id, new Date(T0 + 1))).toBe(true)
        expect(await store.grants.revoke(grant.id, file.id, new Date(T0 + 2))).toBe(false)
        expect(await store.grants.findActive(key.id, file.id, new Date(T0 + 2))).toBeUndefined()
        expect(await store.grants.listForFile(file.id)).toEqual([{ ...grant, revokedAt: new Date(T0 + 1) }])
      })

      it('listReady with grantedTo adds the granted files of other users, only while the grant holds', async () => {
        const key = apiKey()
        await store.apiKeys.insert(key)
        const own = await ready({ userId: 'key:k', uploadedAtMs: T0 })
        const granted = await ready({ userId: 'alice', uploadedAtMs: T0 + 1 })
        const expired = await ready({ userId: 'alice', uploadedAtMs: T0 + 2 })
        await ready({ userId: 'bob', uploadedAtMs: T0 + 3 })
        await store.grants.insert({ id: newId(), fileId: granted.id, keyId: key.id, grantedBy: 'alice', createdAt: new Date(T0), expiresAt: new Date(T0 + 10_000), revokedAt: undefined })
        await store.grants.insert({ id: newId(), fileId: expired.id, keyId: key.id, grantedBy: 'alice', createdAt: new Date(T0), expiresAt: new Date(T0 + 10), revokedAt: undefined })
        const ids = async (at: number) =>
          (await store.files.listReady('key:k', { limit: 10, grantedTo: { keyId: key.id, at: new Date(at) } })).map((f) => f.id)
        expect(await ids(T0 + 5)).toEqual([expired.id, granted.id, own.id])
        expect(await ids(T0 + 100)).toEqual([granted.id, own.id])
        expect(await ids(T0 + 10_000)).toEqual([own.id])
        const everyone = await store.files.listReady('key:k', { limit: 10, allUsers: true })
        expect(everyone.map((f) => f.userId)).toEqual(['bob', 'alice', 'alice', 'key:k'])
      })

      it('listAll pages every grant by id; import copies one only with its file and key, and carries a later revocation', async () => {
        const key = apiKey()
        await store.apiKeys.insert(key)
        const file = await ready()
        const grant = (overrides: Partial<GrantRecord> = {}): GrantRecord => ({
          id: newId(),
          fileId: file.id,
          keyId: key.id,
          grantedBy: 'alice',
          createdAt: new Date(T0),
          expiresAt: new Date(T0 + 10_000),
          revokedAt: undefined,
          ...overrides,
        })
        const grants = [grant(), grant(), grant({ revokedAt: new Date(T0 + 5) })]
        for (const g of grants) await store.grants.insert(g)
        const byId = [...grants].sort((a, b) => a.id.localeCompare(b.id))
        expect(await store.grants.listAll({ limit: 10 })).toEqual(byId)
        expect(await store.grants.listAll({ afterId: byId[0]!.id, limit: 1 })).toEqual([byId[1]])

        const copied = grant()
        expect(await store.grants.import(copied)).toBe('copied')
        expect(await store.grants.import(copied)).toBe('unchanged')
        expect(await store.grants.findActive(key.id, file.id, new Date(T0 + 1))).toBeDefined()
        expect(await store.grants.import({ ...copied, revokedAt: new Date(T0 + 7) })).toBe('revoked')
        expect(await store.grants.import({ ...copied, revokedAt: new Date(T0 + 8) })).toBe('unchanged')
        expect((await store.grants.listForFile(file.id)).find((g) => g.id === copied.id)).toEqual({ ...copied, revokedAt: new Date(T0 + 7) })
        // A grant whose file or key this store lacks is left out, not half recorded.
        expect(await store.grants.import(grant({ fileId: newId() }))).toBe('skipped')
        expect(await store.grants.import(grant({ keyId: 'f'.repeat(16) }))).toBe('skipped')
        expect(await store.grants.listAll({ limit: 10 })).toHaveLength(4)
      })

      it('a file removed takes its grants with it', async () => {
        const key = apiKey()
        await store.apiKeys.insert(key)
        const file = await ready()
        await store.grants.insert({ id: newId(), fileId: file.id, keyId: key.id, grantedBy: 'alice', createdAt: new Date(T0), expiresAt: new Date(T0 + 10_000), revokedAt: undefined })
        await store.files.markDeleting(file.id, 'alice')
        await store.files.remove(file.id)
        expect(await store.grants.listForFile(file.id)).toEqual([])
      })
    })

    describe('audit log', () => {
      it('lists newest first, filtered by key, file and time, and purges old entries', async () => {
        const entry = (at: number, overrides: Record<string, unknown> = {}) => ({
          id: newId(),
          at: new Date(at),
          keyId: 'k1',
          userId: undefined,
          action: 'file.download',
          fileId: 'f1',
          fileOwner: 'alice',
          ip: '127.0.0.1',
          outcome: 'allowed' as const,
          detail: undefined,
          ...overrides,
        })
        const e1 = entry(T0)
        const e2 = entry(T0 + 1, { keyId: 'k2', outcome: 'denied', detail: 'no grant' })
        const e3 = entry(T0 + 2, { fileId: 'f2', ip: '::1' })
        const e4 = entry(T0 + 3, { keyId: undefined, userId: 'alice', action: 'grant.create' })
        for (const e of [e1, e2, e3, e4]) await store.audit.insert(e)
        expect(await store.audit.list({ limit: 10 })).toEqual([e4, e3, e2, e1])
        expect(await store.audit.list({ limit: 2 })).toEqual([e4, e3])
        expect(await store.audit.list({ keyId: 'k1', limit: 10 })).toEqual([e3, e1])
        expect(await store.audit.list({ fileId: 'f1', limit: 10 })).toEqual([e4, e2, e1])
        expect(await store.audit.list({ since: new Date(T0 + 2), limit: 10 })).toEqual([e4, e3])
        expect(await store.audit.purgeBefore(new Date(T0 + 2))).toBe(2)
        expect(await store.audit.list({ limit: 10 })).toEqual([e4, e3])
      })

      it('listAfter pages oldest first (ties by id); importMissing adds only the entries it lacks', async () => {
        const entry = (at: number) => ({
          id: newId(),
          at: new Date(at),
          keyId: undefined,
          userId: 'alice',
          action: 'grant.create',
          fileId: undefined,
          fileOwner: undefined,
          ip: undefined,
          outcome: 'allowed' as const,
          detail: 'for 1h',
        })
        const tied = [entry(T0 + 1), entry(T0 + 1)].sort((a, b) => a.id.localeCompare(b.id))
        const entries = [entry(T0 + 2), ...tied, entry(T0)]
        expect(await store.audit.importMissing(entries)).toBe(4)
        expect(await store.audit.importMissing([...entries, entry(T0 + 3)])).toBe(1)
        expect(await store.audit.importMissing([])).toBe(0)
        const oldest = await store.audit.listAfter({ limit: 2 })
        expect(oldest).toEqual([entries[3], tied[0]])
        const next = await store.audit.listAfter({ after: { atMs: T0 + 1, id: tied[0]!.id }, limit: 2 })
        expect(next).toEqual([tied[1], entries[0]])
        expect(await store.audit.listAfter({ after: { atMs: T0 + 2, id: entries[0]!.id }, limit: 10 })).toHaveLength(1)
      })
    })

    describe('rate limits', () => {
      it('counts hits in a fixed window that restarts once it ends', async () => {
        expect(await store.rateLimits.hit('ip:1', 1000, new Date(T0))).toEqual({ hits: 1, resetAt: new Date(T0 + 1000) })
        expect(await store.rateLimits.hit('ip:1', 1000, new Date(T0 + 999))).toEqual({ hits: 2, resetAt: new Date(T0 + 1000) })
        expect(await store.rateLimits.hit('ip:2', 1000, new Date(T0 + 999))).toEqual({ hits: 1, resetAt: new Date(T0 + 1999) })
        expect(await store.rateLimits.hit('ip:1', 1000, new Date(T0 + 1000))).toEqual({ hits: 1, resetAt: new Date(T0 + 2000) })
      })

      it('counts every one of many concurrent hits', async () => {
        const results = await Promise.all(Array.from({ length: 25 }, () => store.rateLimits.hit('user:alice', 60_000, new Date(T0))))
        expect(results.map((r) => r.hits).sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1))
      })

      it('purgeExpired removes only ended windows', async () => {
        await store.rateLimits.hit('a', 1000, new Date(T0))
        await store.rateLimits.hit('b', 5000, new Date(T0))
        expect(await store.rateLimits.purgeExpired(new Date(T0 + 1000))).toBe(1)
        expect(await store.rateLimits.hit('b', 5000, new Date(T0 + 1000))).toEqual({ hits: 2, resetAt: new Date(T0 + 5000) })
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

        it('for an API key, also finds the files granted to it while the grant holds, or every user\'s with allUsers', async () => {
          const key = apiKey()
          await store.apiKeys.insert(key)
          const own = await uploaded({ userId: 'key:k', originalName: '季度报告-own.md', kind: 'md', uploadedAtMs: T0 + 9 })
          await store.extractions.saveResult(own.id, outcome({ layout: 'document', parts: [{ text: 'own notes' }] }))
          const [bobs] = await find(['季度报告'], { userId: 'bob' })
          await store.grants.insert({ id: newId(), fileId: bobs!.id, keyId: key.id, grantedBy: 'bob', createdAt: new Date(T0), expiresAt: new Date(T0 + 1000), revokedAt: undefined })
          const asKey = (terms: string[], at: number, allUsers = false) =>
            store.search.search('key:k', { terms, limit: 20, offset: 0, grantedTo: { keyId: key.id, at: new Date(at) }, allUsers }).then(ids)
          expect(await asKey(['季度报告'], T0 + 999)).toEqual(['季度报告-own.md', '季度报告-bob.pdf'])
          expect(await asKey(['华东'], T0 + 999)).toEqual(['季度报告-bob.pdf'])
          expect(await asKey(['季度报告'], T0 + 1000)).toEqual(['季度报告-own.md'])
          expect((await asKey(['季度报告'], T0 + 1000, true)).sort()).toEqual(['notes.docx', '季度报告-bob.pdf', '季度报告-own.md', '季度报告.pdf'].sort())
          expect(await find(['季度报告'], { userId: 'key:k' }).then(ids)).toEqual(['季度报告-own.md'])
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

    describe('conversations', () => {
      const attachment = (file: StoredFile) => ({ fileId: file.id, originalName: file.originalName, kind: file.kind, sizeBytes: file.sizeBytes })
      const turn = (n: number) => [{ role: 'user' as const, content: `q${n}` }, { role: 'assistant' as const, content: `a${n}` }]

      it('records a first turn with the conversation and its files, visible to its user only', async () => {
        const file = await ready({ originalName: '报告.pdf', kind: 'pdf', sizeBytes: 1234 })
        const id = newId()
        const create = { userId: 'alice', title: 'Summarise 报告' }
        expect(await store.conversations.recordTurn(id, { create, attachments: [attachment(file)], messages: turn(1), at: new Date(T0) })).toBe(true)
        const found = await store.conversations.find(id, 'alice')
        expect(found).toEqual({ id, userId: 'alice', title: 'Summarise 报告', messageCount: 2, createdAt: new Date(T0), updatedAt: new Date(T0) })
        expect(await store.conversations.find(id, 'bob')).toBeUndefined()
        expect(await store.conversations.attachments(id)).toEqual([
          { fileId: file.id, originalName: '报告.pdf', kind: 'pdf', sizeBytes: 1234, addedAt: new Date(T0), available: true },
        ])
        expect(await store.conversations.messages(id, { limit: 10 })).toEqual([
          { seq: 1, role: 'user', content: 'q1', createdAt: new Date(T0) },
          { seq: 2, role: 'assistant', content: 'a1', createdAt: new Date(T0) },
        ])
        // A conversation is created once; a turn for one that is gone records nothing.
        await expect(store.conversations.recordTurn(id, { create, attachments: [], messages: turn(2), at: new Date(T0) })).rejects.toThrow()
        expect(await store.conversations.recordTurn(newId(), { attachments: [attachment(file)], messages: turn(1), at: new Date(T0) })).toBe(false)
        expect((await store.conversations.find(id, 'alice'))?.messageCount).toBe(2)
      })

      it('appends turns in order, numbering concurrent turns apart, and returns the last messages oldest first', async () => {
        const id = newId()
        await store.conversations.recordTurn(id, { create: { userId: 'alice', title: 't' }, attachments: [], messages: turn(1), at: new Date(T0) })
        await Promise.all(Array.from({ length: 6 }, (_, i) => store.conversations.recordTurn(id, { attachments: [], messages: turn(i + 2), at: new Date(T0 + 2) })))
        const all = await store.conversations.messages(id, { limit: 100 })
        expect(all.map((m) => m.seq)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1))
        // Each turn's two messages stay together.
        for (let i = 0; i < all.length; i += 2) expect(all[i + 1]!.content).toBe(all[i]!.content.replace('q', 'a'))
        expect((await store.conversations.messages(id, { limit: 3 })).map((m) => m.seq)).toEqual([12, 13, 14])
        expect(await store.conversations.find(id, 'alice')).toMatchObject({ messageCount: 14, createdAt: new Date(T0), updatedAt: new Date(T0 + 2) })
      })

      it('attaches only files it lacks, and an attachment outlives its file, shown as no longer available', async () => {
        const first = await ready({ originalName: 'a.png', kind: 'png' })
        const second = await ready({ originalName: 'b.pdf', kind: 'pdf' })
        const id = newId()
        await store.conversations.recordTurn(id, { create: { userId: 'alice', title: 't' }, attachments: [attachment(first)], messages: turn(1), at: new Date(T0) })
        await store.conversations.recordTurn(id, { attachments: [{ ...attachment(first), originalName: 'renamed.png' }, attachment(second)], messages: turn(2), at: new Date(T0 + 10) })
        await store.files.markDeleting(first.id, 'alice')
        expect((await store.conversations.attachments(id)).map((a) => [a.originalName, a.available])).toEqual([['a.png', false], ['b.pdf', true]])
        await store.files.remove(first.id)
        expect((await store.conversations.attachments(id)).map((a) => [a.fileId, a.available])).toEqual([[first.id, false], [second.id, true]])
        expect((await store.conversations.messages(id, { limit: 10 })).length).toBe(4)
      })

      it('exports conversations whole, in id order, and imports them again, adding only what is missing', async () => {
        const file = await ready({ originalName: 'a.png', kind: 'png', sizeBytes: 10 })
        const id = newId()
        await store.conversations.recordTurn(id, { create: { userId: 'alice', title: 'first' }, attachments: [attachment(file)], messages: turn(1), at: new Date(T0) })
        await store.conversations.recordTurn(id, { attachments: [], messages: turn(2), at: new Date(T0 + 10) })
        const other = newId()
        await store.conversations.recordTurn(other, { create: { userId: 'bob', title: 'bob' }, attachments: [], messages: turn(1), at: new Date(T0) })
        const [early] = (await store.conversations.exportPage({ limit: 10 })).filter((c) => c.conversation.id === id)
        expect(early).toEqual({
          conversation: { id, userId: 'alice', title: 'first', messageCount: 4, createdAt: new Date(T0), updatedAt: new Date(T0 + 10) },
          messages: await store.conversations.messages(id, { limit: 10 }),
          attachments: [{ fileId: file.id, originalName: 'a.png', kind: 'png', sizeBytes: 10, addedAt: new Date(T0) }],
        })
        const ids = [id, other].sort()
        expect((await store.conversations.exportPage({ afterId: ids[0]!, limit: 10 })).map((c) => c.conversation.id)).toEqual([ids[1]])
        await store.conversations.recordTurn(id, { attachments: [], messages: turn(3), at: new Date(T0 + 20) })
        const [later] = (await store.conversations.exportPage({ limit: 10 })).filter((c) => c.conversation.id === id)

        // As at a target that has not seen it yet, then one that saw the earlier export.
        await store.conversations.remove(id, 'alice')
        expect(await store.conversations.import(early!)).toEqual({ created: true, messages: 4 })
        expect(await store.conversations.import(early!)).toEqual({ created: false, messages: 0 })
        expect(await store.conversations.find(id, 'alice')).toEqual(early!.conversation)
        expect(await store.conversations.import(later!)).toEqual({ created: false, messages: 2 })
        expect(await store.conversations.find(id, 'alice')).toMatchObject({ messageCount: 6, updatedAt: new Date(T0 + 20) })
        expect(await store.conversations.messages(id, { limit: 10 })).toEqual(later!.messages)
        expect(await store.conversations.attachments(id)).toEqual([{ ...later!.attachments[0], available: true }])
        // Turns after the import number on from it.
        await store.conversations.recordTurn(id, { attachments: [], messages: turn(4), at: new Date(T0 + 30) })
        expect((await store.conversations.messages(id, { limit: 2 })).map((m) => m.seq)).toEqual([7, 8])
      })

      it('lists a user\'s conversations most recently updated first, by cursor, and removes one with all it holds', async () => {
        const ids = [newId(), newId(), newId()]
        for (const [i, id] of ids.entries()) {
          await store.conversations.recordTurn(id, { create: { userId: 'alice', title: `t${i}` }, attachments: [], messages: turn(1), at: new Date(T0 + i) })
        }
        await store.conversations.recordTurn(newId(), { create: { userId: 'bob', title: 'bob' }, attachments: [], messages: turn(1), at: new Date(T0 + 5) })
        const file = await ready()
        await store.conversations.recordTurn(ids[0]!, { attachments: [attachment(file)], messages: turn(2), at: new Date(T0 + 9) })
        const page = await store.conversations.list('alice', { limit: 2 })
        expect(page.map((c) => c.id)).toEqual([ids[0], ids[2]])
        const last = page.at(-1)!
        expect((await store.conversations.list('alice', { limit: 2, before: { updatedAtMs: last.updatedAt.getTime(), id: last.id } })).map((c) => c.id)).toEqual([ids[1]])
        expect(await store.conversations.remove(ids[0]!, 'bob')).toBe(false)
        expect(await store.conversations.remove(ids[0]!, 'alice')).toBe(true)
        expect(await store.conversations.remove(ids[0]!, 'alice')).toBe(false)
        expect(await store.conversations.messages(ids[0]!, { limit: 10 })).toEqual([])
        expect(await store.conversations.attachments(ids[0]!)).toEqual([])
        expect(await store.files.findReady(file.id)).toBeDefined()
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
