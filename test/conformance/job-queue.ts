import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Job, JobQueue, JobQueueOptions, Locks } from '../../src/jobs/job-queue.js'

/** One connection to the fixture's database, as one process would hold. */
export interface JobQueueConnection {
  readonly queue: JobQueue
  readonly locks: Locks
  close(): Promise<void>
}

/** A migrated database that any number of independent connections can open, shared by the tests of one suite. */
export interface JobQueueFixture {
  /** A new connection of its own (its own pool or file handle), standing for another process. */
  open(options: JobQueueOptions): Promise<JobQueueConnection>
  /** Empties the jobs and locks tables: each test starts from nothing. */
  reset(): Promise<void>
  cleanup(): Promise<void>
}

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0)
const SECOND = 1_000
const MINUTE = 60 * SECOND
const LEASE_MS = 30 * SECOND

/**
 * The JobQueue and Locks contract (src/jobs/job-queue.ts) that every adapter must pass against its
 * real database. `factory` makes one database for the suite (creating a PostgreSQL database per test
 * would cost ~0.4 s each); every test starts with empty tables and a clock it moves by hand.
 */
export function describeJobQueue(name: string, factory: () => Promise<JobQueueFixture>): void {
  describe(`JobQueue conformance: ${name}`, () => {
    let fixture: JobQueueFixture
    let opened: JobQueueConnection[]
    let nowMs: number
    let queue: JobQueue
    let locks: Locks
    const clock = { now: () => nowMs }

    /** Another process on the same database, sharing the test's clock. */
    async function connect(): Promise<JobQueueConnection> {
      const connection = await fixture.open(clock)
      opened.push(connection)
      return connection
    }

    beforeAll(async () => {
      fixture = await factory()
    })

    afterAll(async () => {
      await fixture?.cleanup()
    })

    beforeEach(async () => {
      nowMs = T0
      opened = []
      await fixture.reset()
      ;({ queue, locks } = await connect())
    })

    afterEach(async () => {
      await Promise.all(opened.map((connection) => connection.close()))
    })

    async function claimFor(workerId: string, kinds: readonly string[] = ['thumbnail']): Promise<Job | undefined> {
      return queue.claim({ kinds, workerId, leaseMs: LEASE_MS })
    }

    async function mustGet(id: string): Promise<Job> {
      const job = await queue.get(id)
      if (!job) throw new Error(`job ${id} not found`)
      return job
    }

    describe('enqueue and get', () => {
      it('round-trips every field, with defaults for what was left out', async () => {
        const payload = { fileId: 'f'.repeat(32), name: '报告 2025 – final ✓.pdf', sizes: [64, 256], nested: { ok: true, none: null } }
        const id = await queue.enqueue({ kind: 'thumbnail', payload })
        expect(id).toMatch(/^[0-9a-f]{32}$/)

        const expected: Job = {
          id,
          kind: 'thumbnail',
          payload,
          state: 'queued',
          runAt: new Date(T0),
          attempts: 0,
          maxAttempts: 5,
          lockedBy: undefined,
          lockedUntil: undefined,
          lastError: undefined,
          dedupeKey: undefined,
          createdAt: new Date(T0),
          updatedAt: new Date(T0),
        }
        expect(await queue.get(id)).toEqual(expected)
      })

      it('keeps runAt, maxAttempts and dedupeKey as given, and scalar payloads as they were', async () => {
        const runAt = new Date(T0 + 2 ** 40) // beyond any 32-bit column
        const id = await queue.enqueue({ kind: 'backup', payload: 'nightly', runAt, maxAttempts: 2, dedupeKey: 'backup:2025-01-15' })
        const job = await mustGet(id)
        expect(job).toMatchObject({ payload: 'nightly', runAt, maxAttempts: 2, dedupeKey: 'backup:2025-01-15' })
        expect((await mustGet(await queue.enqueue({ kind: 'backup', payload: null }))).payload).toBeNull()
        expect((await mustGet(await queue.enqueue({ kind: 'backup', payload: 0 }))).payload).toBe(0)
      })

      it('gives every job its own id', async () => {
        const ids = await Promise.all(Array.from({ length: 20 }, () => queue.enqueue({ kind: 'thumbnail', payload: {} })))
        expect(new Set(ids).size).toBe(20)
      })

      it('get of an unknown id is undefined', async () => {
        expect(await queue.get('0'.repeat(32))).toBeUndefined()
      })

      it('refuses what the schema cannot hold, the same way on every database', async () => {
        await expect(queue.enqueue({ kind: 'k'.repeat(65), payload: {} })).rejects.toThrow(RangeError)
        await expect(queue.enqueue({ kind: '', payload: {} })).rejects.toThrow(RangeError)
        await expect(queue.enqueue({ kind: 'thumbnail', payload: {}, dedupeKey: 'd'.repeat(201) })).rejects.toThrow(RangeError)
        await expect(queue.enqueue({ kind: 'thumbnail', payload: {}, maxAttempts: 0 })).rejects.toThrow(RangeError)
        await expect(queue.claim({ kinds: ['thumbnail'], workerId: 'w'.repeat(65), leaseMs: LEASE_MS })).rejects.toThrow(RangeError)
        await expect(queue.claim({ kinds: ['thumbnail'], workerId: 'w1', leaseMs: 0 })).rejects.toThrow(RangeError)
        expect(await queue.enqueue({ kind: 'k'.repeat(64), payload: {}, dedupeKey: 'd'.repeat(200) })).toMatch(/^[0-9a-f]{32}$/)
      })
    })

    describe('claim', () => {
      it('takes the earliest due job first, oldest first on a tie, and marks it running for the worker', async () => {
        const later = await queue.enqueue({ kind: 'thumbnail', payload: 'later', runAt: new Date(T0 - 1 * SECOND) })
        nowMs += 1
        const first = await queue.enqueue({ kind: 'thumbnail', payload: 'first', runAt: new Date(T0 - 2 * SECOND) })
        nowMs += 1
        const second = await queue.enqueue({ kind: 'thumbnail', payload: 'second', runAt: new Date(T0 - 2 * SECOND) })

        const claimed = await claimFor('w1')
        expect(claimed).toMatchObject({
          id: first,
          state: 'running',
          attempts: 1,
          lockedBy: 'w1',
          lockedUntil: new Date(nowMs + LEASE_MS),
          updatedAt: new Date(nowMs),
        })
        expect(await mustGet(first)).toEqual(claimed)
        expect((await claimFor('w1'))?.id).toBe(second)
        expect((await claimFor('w1'))?.id).toBe(later)
        expect(await claimFor('w1')).toBeUndefined()
      })

      it('leaves a job alone until its runAt', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {}, runAt: new Date(T0 + MINUTE) })
        expect(await claimFor('w1')).toBeUndefined()
        nowMs = T0 + MINUTE - 1
        expect(await claimFor('w1')).toBeUndefined()
        nowMs = T0 + MINUTE
        expect((await claimFor('w1'))?.id).toBe(id)
      })

      it('takes only the kinds asked for; no kinds, no job', async () => {
        const backup = await queue.enqueue({ kind: 'backup', payload: {} })
        const thumbnail = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        expect(await claimFor('w1', [])).toBeUndefined()
        expect((await claimFor('w1', ['thumbnail']))?.id).toBe(thumbnail)
        expect(await claimFor('w1', ['thumbnail', 'retention'])).toBeUndefined()
        expect((await claimFor('w1', ['retention', 'backup']))?.id).toBe(backup)
        expect((await mustGet(backup)).state).toBe('running')
      })

      it('across several kinds and lapsed leases, takes the earliest due job of them all', async () => {
        const all = ['thumbnail', 'backup', 'retention']
        const lapsed = await queue.enqueue({ kind: 'retention', payload: 'lapsed', runAt: new Date(T0 - 5 * SECOND) })
        expect((await claimFor('w0', ['retention']))?.id).toBe(lapsed)
        nowMs = T0 + LEASE_MS
        const thumbnail = await queue.enqueue({ kind: 'thumbnail', payload: {}, runAt: new Date(T0 - 2 * SECOND) })
        const backup = await queue.enqueue({ kind: 'backup', payload: {}, runAt: new Date(T0 - 3 * SECOND) })
        nowMs += 1
        const laterBackup = await queue.enqueue({ kind: 'backup', payload: {}, runAt: new Date(T0 - 3 * SECOND) })
        const notYet = await queue.enqueue({ kind: 'retention', payload: {}, runAt: new Date(nowMs + MINUTE) })

        const order = []
        for (let job = await claimFor('w1', all); job; job = await claimFor('w1', all)) order.push(job.id)
        expect(order).toEqual([lapsed, backup, laterBackup, thumbnail])
        expect((await mustGet(lapsed)).attempts).toBe(2)
        expect((await mustGet(notYet)).state).toBe('queued')
      })

      it('does not hand a leased job to anyone else while the lease lasts', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        expect((await claimFor('w1'))?.id).toBe(id)
        expect(await claimFor('w2')).toBeUndefined()
        nowMs = T0 + LEASE_MS - 1
        expect(await claimFor('w2')).toBeUndefined()
        expect(await claimFor('w1')).toBeUndefined()
        expect(await mustGet(id)).toMatchObject({ state: 'running', lockedBy: 'w1', attempts: 1 })
      })

      it('hands a job whose lease lapsed to another worker, counting the attempt; the old holder is out', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        await claimFor('w1')
        nowMs = T0 + LEASE_MS
        const reclaimed = await claimFor('w2')
        expect(reclaimed).toMatchObject({ id, state: 'running', attempts: 2, lockedBy: 'w2', lockedUntil: new Date(nowMs + LEASE_MS) })

        expect(await queue.complete(id, 'w1')).toBe(false)
        expect(await queue.extendLease(id, 'w1', LEASE_MS)).toBe(false)
        expect(await queue.fail(id, 'w1', { error: 'late', retryable: true })).toBeUndefined()
        expect(await mustGet(id)).toEqual(reclaimed)
      })

      it('fails a job whose lease lapses on its last attempt instead of running it again', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {}, maxAttempts: 2 })
        await claimFor('w1')
        nowMs += LEASE_MS
        expect((await claimFor('w2'))?.attempts).toBe(2)
        nowMs += LEASE_MS
        expect(await claimFor('w3')).toBeUndefined()
        const job = await mustGet(id)
        expect(job).toMatchObject({ state: 'failed', attempts: 2, lockedBy: undefined, lockedUntil: undefined })
        expect(job.lastError).toMatch(/lease/i)
      })

      it('extendLease keeps the job from others past the first lease', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        await claimFor('w1')
        nowMs = T0 + LEASE_MS - 1
        expect(await queue.extendLease(id, 'w1', LEASE_MS)).toBe(true)
        expect((await mustGet(id)).lockedUntil).toEqual(new Date(nowMs + LEASE_MS))
        nowMs = T0 + LEASE_MS + 1
        expect(await claimFor('w2')).toBeUndefined()
        expect(await queue.extendLease(id, 'w2', LEASE_MS)).toBe(false)
        expect(await queue.extendLease('0'.repeat(32), 'w1', LEASE_MS)).toBe(false)
      })
    })

    describe('complete', () => {
      it('only the lease holder completes a job, once', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        expect(await queue.complete(id, 'w1')).toBe(false) // queued: nobody holds it
        await claimFor('w1')
        expect(await queue.complete(id, 'w2')).toBe(false)
        expect((await mustGet(id)).state).toBe('running')

        nowMs += SECOND
        expect(await queue.complete(id, 'w1')).toBe(true)
        expect(await mustGet(id)).toMatchObject({
          state: 'done',
          attempts: 1,
          lockedBy: undefined,
          lockedUntil: undefined,
          updatedAt: new Date(nowMs),
        })
        expect(await queue.complete(id, 'w1')).toBe(false)
        nowMs += LEASE_MS
        expect(await claimFor('w2')).toBeUndefined()
      })

      it('a holder whose lease lapsed may still complete if nobody took the job over', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        await claimFor('w1')
        nowMs += LEASE_MS * 2
        expect(await queue.complete(id, 'w1')).toBe(true)
        expect(await claimFor('w2')).toBeUndefined()
      })

      it('of an unknown id is false', async () => {
        expect(await queue.complete('0'.repeat(32), 'w1')).toBe(false)
      })
    })

    describe('purgeFinished', () => {
      it('deletes done and failed jobs older than the cutoff, and nothing queued or running', async () => {
        const done = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        await claimFor('w1')
        await queue.complete(done, 'w1')
        const failed = await queue.enqueue({ kind: 'thumbnail', payload: {}, maxAttempts: 1 })
        await claimFor('w1')
        await queue.fail(failed, 'w1', { error: 'broken', retryable: false })
        nowMs += SECOND
        const running = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        await claimFor('w1')
        const queued = await queue.enqueue({ kind: 'thumbnail', payload: {} })

        expect(await queue.purgeFinished(new Date(T0))).toBe(0)
        expect(await queue.purgeFinished(new Date(nowMs))).toBe(2)
        expect(await queue.get(done)).toBeUndefined()
        expect(await queue.get(failed)).toBeUndefined()
        expect((await mustGet(running)).state).toBe('running')
        expect((await mustGet(queued)).state).toBe('queued')
      })
    })

    describe('fail', () => {
      it('requeues a retryable failure with growing, jittered backoff, then fails for good after maxAttempts', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {}, maxAttempts: 3 })
        for (const attempt of [1, 2]) {
          expect((await claimFor('w1'))?.attempts).toBe(attempt)
          expect(await queue.fail(id, 'w1', { error: `timeout ${attempt}`, retryable: true })).toBe('queued')
          const job = await mustGet(id)
          expect(job).toMatchObject({ state: 'queued', attempts: attempt, lastError: `timeout ${attempt}`, lockedBy: undefined, lockedUntil: undefined })
          const fullDelayMs = SECOND * 2 ** (attempt - 1)
          const delayMs = job.runAt.getTime() - nowMs
          expect(delayMs).toBeGreaterThanOrEqual(fullDelayMs / 2)
          expect(delayMs).toBeLessThanOrEqual(fullDelayMs)

          nowMs = job.runAt.getTime() - 1
          expect(await claimFor('w1')).toBeUndefined()
          nowMs = job.runAt.getTime()
        }
        expect((await claimFor('w1'))?.attempts).toBe(3)
        expect(await queue.fail(id, 'w1', { error: 'timeout 3', retryable: true })).toBe('failed')
        expect(await mustGet(id)).toMatchObject({ state: 'failed', attempts: 3, lastError: 'timeout 3', lockedBy: undefined, lockedUntil: undefined })
        nowMs += 24 * 60 * MINUTE
        expect(await claimFor('w1')).toBeUndefined()
      })

      it('caps the backoff at 10 minutes', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {}, maxAttempts: 14 })
        const delaysMs: number[] = []
        for (let attempt = 1; attempt <= 13; attempt++) {
          await claimFor('w1')
          expect(await queue.fail(id, 'w1', { error: 'busy', retryable: true })).toBe('queued')
          const runAtMs = (await mustGet(id)).runAt.getTime()
          delaysMs.push(runAtMs - nowMs)
          nowMs = runAtMs
        }
        // 2^10 s > 10 min: from attempt 11 the capped delay is 10 min, jittered down to no less than 5.
        for (const delayMs of delaysMs.slice(10)) {
          expect(delayMs).toBeGreaterThanOrEqual(5 * MINUTE)
          expect(delayMs).toBeLessThanOrEqual(10 * MINUTE)
        }
      })

      it('fails a non-retryable error at once, attempts left or not', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        await claimFor('w1')
        expect(await queue.fail(id, 'w1', { error: 'payload names no file', retryable: false })).toBe('failed')
        expect(await mustGet(id)).toMatchObject({ state: 'failed', attempts: 1, lastError: 'payload names no file' })
      })

      it('by anyone but the holder changes nothing', async () => {
        const id = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        expect(await queue.fail(id, 'w1', { error: 'x', retryable: true })).toBeUndefined()
        const claimed = await claimFor('w1')
        expect(await queue.fail(id, 'w2', { error: 'x', retryable: false })).toBeUndefined()
        expect(await queue.fail('0'.repeat(32), 'w1', { error: 'x', retryable: false })).toBeUndefined()
        expect(await mustGet(id)).toEqual(claimed)
      })
    })

    describe('dedupeKey', () => {
      it('returns the existing job while it is queued or running, and allows a new one once it is done', async () => {
        const first = await queue.enqueue({ kind: 'thumbnail', payload: { v: 1 }, dedupeKey: 'thumb:abc' })
        expect(await queue.enqueue({ kind: 'thumbnail', payload: { v: 2 }, dedupeKey: 'thumb:abc' })).toBe(first)
        expect(await queue.enqueue({ kind: 'backup', payload: {}, dedupeKey: 'thumb:other' })).not.toBe(first)

        expect((await claimFor('w1'))?.id).toBe(first)
        expect(await queue.enqueue({ kind: 'thumbnail', payload: { v: 3 }, dedupeKey: 'thumb:abc' })).toBe(first)
        // a retry goes back to queued and keeps its key
        expect(await queue.fail(first, 'w1', { error: 'x', retryable: true })).toBe('queued')
        expect(await queue.enqueue({ kind: 'thumbnail', payload: {}, dedupeKey: 'thumb:abc' })).toBe(first)
        nowMs += MINUTE
        expect((await claimFor('w1'))?.id).toBe(first)
        expect((await mustGet(first)).payload).toEqual({ v: 1 })

        expect(await queue.complete(first, 'w1')).toBe(true)
        const second = await queue.enqueue({ kind: 'thumbnail', payload: { v: 4 }, dedupeKey: 'thumb:abc' })
        expect(second).not.toBe(first)
        expect(await mustGet(second)).toMatchObject({ state: 'queued', payload: { v: 4 }, dedupeKey: 'thumb:abc' })
        expect((await mustGet(first)).dedupeKey).toBeUndefined()
      })

      it('allows a new job once the last one failed', async () => {
        const first = await queue.enqueue({ kind: 'thumbnail', payload: {}, dedupeKey: 'thumb:abc' })
        await claimFor('w1')
        expect(await queue.fail(first, 'w1', { error: 'corrupt', retryable: false })).toBe('failed')
        expect(await queue.enqueue({ kind: 'thumbnail', payload: {}, dedupeKey: 'thumb:abc' })).not.toBe(first)
      })

      it('jobs without a key never collide', async () => {
        const a = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        const b = await queue.enqueue({ kind: 'thumbnail', payload: {} })
        expect(a).not.toBe(b)
      })

      it('concurrent enqueues with one key from separate connections make exactly one job', async () => {
        const connections = [{ queue }, ...(await Promise.all(Array.from({ length: 5 }, connect)))]
        const ids = await Promise.all(
          connections.flatMap((c, n) => [0, 1].map((k) => c.queue.enqueue({ kind: 'thumbnail', payload: { n, k }, dedupeKey: 'thumb:race' }))),
        )
        expect(new Set(ids).size).toBe(1)
        expect((await claimFor('w1'))?.id).toBe(ids[0])
        expect(await claimFor('w1')).toBeUndefined()
      })
    })

    describe('under contention', () => {
      it('8 workers on their own connections claim each of 50 jobs exactly once', async () => {
        const ids = new Set<string>()
        for (let n = 0; n < 50; n++) ids.add(await queue.enqueue({ kind: 'thumbnail', payload: { n } }))
        const connections = await Promise.all(Array.from({ length: 8 }, connect))

        const claims = await Promise.all(
          connections.map(async (connection, w) => {
            const workerId = `worker-${w}`
            const mine: string[] = []
            for (;;) {
              const job = await connection.queue.claim({ kinds: ['thumbnail'], workerId, leaseMs: LEASE_MS })
              if (!job) return mine
              expect(job.lockedBy).toBe(workerId)
              mine.push(job.id)
              expect(await connection.queue.complete(job.id, workerId)).toBe(true)
            }
          }),
        )

        const all = claims.flat()
        expect(all).toHaveLength(50)
        expect(new Set(all)).toEqual(ids)
        expect(await claimFor('w-late')).toBeUndefined()
        for (const id of ids) expect(await mustGet(id)).toMatchObject({ state: 'done', attempts: 1 })
        // Not a requirement, but if one worker did everything the test proved nothing about contention.
        expect(claims.filter((mine) => mine.length > 0).length).toBeGreaterThan(1)
      })
    })

    describe('Locks', () => {
      it('only one of two owners holds a lock; the holder may acquire again, which renews it', async () => {
        const other = (await connect()).locks
        expect(await locks.tryAcquire('cleanup', 'a', MINUTE)).toBe(true)
        expect(await other.tryAcquire('cleanup', 'b', MINUTE)).toBe(false)
        nowMs += MINUTE / 2
        expect(await locks.tryAcquire('cleanup', 'a', MINUTE)).toBe(true)
        nowMs = T0 + MINUTE // the first grant would have ended here
        expect(await other.tryAcquire('cleanup', 'b', MINUTE)).toBe(false)
        expect(await other.tryAcquire('backup', 'b', MINUTE)).toBe(true)
      })

      it('is taken over once it expires, and the old owner can no longer renew or release it', async () => {
        expect(await locks.tryAcquire('cleanup', 'a', MINUTE)).toBe(true)
        nowMs = T0 + MINUTE - 1
        expect(await locks.tryAcquire('cleanup', 'b', MINUTE)).toBe(false)
        nowMs = T0 + MINUTE
        expect(await locks.tryAcquire('cleanup', 'b', MINUTE)).toBe(true)
        expect(await locks.renew('cleanup', 'a', MINUTE)).toBe(false)
        expect(await locks.release('cleanup', 'a')).toBe(false)
        expect(await locks.tryAcquire('cleanup', 'a', MINUTE)).toBe(false)
      })

      it('release lets the other owner acquire at once; a release by a non-owner does nothing', async () => {
        expect(await locks.tryAcquire('cleanup', 'a', MINUTE)).toBe(true)
        expect(await locks.release('cleanup', 'b')).toBe(false)
        expect(await locks.tryAcquire('cleanup', 'b', MINUTE)).toBe(false)
        expect(await locks.release('cleanup', 'a')).toBe(true)
        expect(await locks.release('cleanup', 'a')).toBe(false)
        expect(await locks.tryAcquire('cleanup', 'b', MINUTE)).toBe(true)
      })

      it('renew extends the lease from now; renewing a lock nobody holds is false', async () => {
        expect(await locks.renew('cleanup', 'a', MINUTE)).toBe(false)
        expect(await locks.tryAcquire('cleanup', 'a', MINUTE)).toBe(true)
        nowMs = T0 + MINUTE - 1
        expect(await locks.renew('cleanup', 'a', MINUTE)).toBe(true)
        expect(await locks.renew('cleanup', 'b', MINUTE)).toBe(false)
        nowMs = T0 + 2 * MINUTE - 2
        expect(await locks.tryAcquire('cleanup', 'b', MINUTE)).toBe(false)
        nowMs = T0 + 2 * MINUTE - 1
        expect(await locks.tryAcquire('cleanup', 'b', MINUTE)).toBe(true)
      })

      it('of 8 owners on their own connections racing for one lock, exactly one wins', async () => {
        const connections = await Promise.all(Array.from({ length: 8 }, connect))
        const won = await Promise.all(connections.map((c, n) => c.locks.tryAcquire('cleanup', `owner-${n}`, MINUTE)))
        expect(won.filter(Boolean)).toHaveLength(1)
      })
    })
  })
}
