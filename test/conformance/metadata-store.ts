import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { MetadataStore, NewPendingFile, StoredFile, TokenRecord } from '../../src/db/metadata-store.js'

/** What a conformance run needs from an adapter: a fresh, migrated, empty store and a way to throw it away. */
export interface MetadataStoreFixture {
  readonly store: MetadataStore
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

/**
 * The MetadataStore contract (src/db/metadata-store.ts) that every adapter must pass
 * against its real database. Each test gets a fresh, migrated, empty store from `factory`.
 */
export function describeMetadataStore(name: string, factory: () => Promise<MetadataStoreFixture>): void {
  describe(`MetadataStore conformance: ${name}`, () => {
    let fixture: MetadataStoreFixture
    let store: MetadataStore

    beforeEach(async () => {
      fixture = await factory()
      store = fixture.store
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

    describe('usage', () => {
      it('adds to each day atomically and lists days from a given one', async () => {
        const one = { day: '2025-01-15', uploads: 1, uploadBytes: 10, downloads: 0, downloadBytes: 0 }
        await Promise.all(Array.from({ length: 5 }, () => store.usage.add(one)))
        await store.usage.add({ day: '2025-01-16', uploads: 0, uploadBytes: 0, downloads: 2, downloadBytes: 2 ** 40 })
        expect(await store.usage.list('2025-01-01')).toEqual([
          { day: '2025-01-15', uploads: 5, uploadBytes: 50, downloads: 0, downloadBytes: 0 },
          { day: '2025-01-16', uploads: 0, uploadBytes: 0, downloads: 2, downloadBytes: 2 ** 40 },
        ])
        expect((await store.usage.list('2025-01-16')).map((d) => d.day)).toEqual(['2025-01-16'])
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
