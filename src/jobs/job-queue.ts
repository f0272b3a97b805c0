import type { JobState } from '../db/database.js'

export type { JobState }

/** What `JSON.stringify` then `JSON.parse` gives back unchanged. Declare payloads with `type`, not `interface`, to fit. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue }

/**
 * A unit of queued work, shared by every Cabinet instance on the same database.
 *
 * Life cycle: `queued` → (claim) → `running` → `done`, or back to `queued` with a backoff on a
 * retryable failure, or `failed` for good. A `running` job whose lease lapses is claimable again.
 */
export interface Job {
  /** 32 random hex characters. */
  readonly id: string
  /** What to do; workers claim by kind. At most 64 characters. */
  readonly kind: string
  readonly payload: JsonValue
  readonly state: JobState
  /** Not claimable before this time: set by the enqueuer, then pushed back by each retry's backoff. */
  readonly runAt: Date
  /** Claims so far, counting the current one while running; an expired lease counts too. */
  readonly attempts: number
  /** After this many attempts the job fails instead of being retried. */
  readonly maxAttempts: number
  /** Worker holding the lease; set only while running. */
  readonly lockedBy: string | undefined
  /** End of the lease (exclusive); set only while running. */
  readonly lockedUntil: Date | undefined
  /** Error of the latest failed attempt, kept while retrying and once failed. */
  readonly lastError: string | undefined
  /** Set while queued or running; cleared once done or failed, so the key is free for a new job. */
  readonly dedupeKey: string | undefined
  readonly createdAt: Date
  readonly updatedAt: Date
}

export interface EnqueueOptions {
  /** At most 64 characters. */
  readonly kind: string
  /** Stored as JSON; `get` and `claim` return it parsed. */
  readonly payload: JsonValue
  /** Not before this time; now when omitted. */
  readonly runAt?: Date
  /** Attempts before the job fails for good, counting the first; default 5. A positive integer. */
  readonly maxAttempts?: number
  /**
   * At most one queued or running job per key (at most 200 characters): while one exists, `enqueue`
   * returns its id and ignores this call's payload, run time and attempts. Safe against concurrent enqueues.
   */
  readonly dedupeKey?: string
}

export interface ClaimOptions {
  /** Only jobs of these kinds; an empty list claims nothing. */
  readonly kinds: readonly string[]
  /** Identifies the claimer, unique per process and worker, e.g. `${hostname}:${pid}:${n}`. At most 64 characters. */
  readonly workerId: string
  /** How long the job is ours; past it, another worker may claim it again. Extend it with `extendLease`. */
  readonly leaseMs: number
}

export interface FailOptions {
  /** What went wrong, kept as `lastError`. Logged and stored as is: keep secrets out. */
  readonly error: string
  /** False for errors a retry cannot fix (bad payload, missing file): the job fails at once. */
  readonly retryable: boolean
}

/**
 * A durable job queue on the metadata database, safe for many workers in many processes:
 * each job is leased to one worker at a time and retried with exponential backoff.
 *
 * Delivery is at least once: a worker that dies or overruns its lease without extending it
 * has its job run again by another, so handlers must be idempotent.
 */
export interface JobQueue {
  /** Adds a job and returns its id, or the id of the queued or running job with the same `dedupeKey`. */
  enqueue(job: EnqueueOptions): Promise<string>

  /**
   * Atomically takes the runnable job of one of `kinds` with the earliest `runAt`, then the earliest
   * `createdAt` (jobs enqueued in the same millisecond come in no set order): a queued job due by now,
   * or a running one whose lease has lapsed. It becomes `running`, leased to `workerId` for `leaseMs`,
   * with `attempts` one higher. Undefined when nothing is runnable.
   *
   * A running job whose lease lapses on its last attempt is marked failed rather than run again.
   */
  claim(options: ClaimOptions): Promise<Job | undefined>

  /**
   * Marks a running job done. Only the lease holder may: false when `workerId` no longer holds it
   * (another worker reclaimed it, or it is not running). A lapsed lease still counts as long as no
   * claim has come since: one would have taken the job over, or failed it if that was its last attempt.
   */
  complete(id: string, workerId: string): Promise<boolean>

  /**
   * Records a failed attempt by the lease holder. A retryable failure with attempts left goes back
   * to `queued`, due after a backoff (by default 1 s × 2^(attempts − 1), capped at 10 min, with random
   * jitter down to half that); otherwise the job is `failed`. Returns the new state, or undefined when
   * `workerId` no longer holds the lease (nothing changes).
   */
  fail(id: string, workerId: string, options: FailOptions): Promise<'queued' | 'failed' | undefined>

  /** Extends the holder's lease to `leaseMs` from now, for long work; false when `workerId` no longer holds it. */
  extendLease(id: string, workerId: string, leaseMs: number): Promise<boolean>

  /** The job with this id, whatever its state; undefined when unknown. */
  get(id: string): Promise<Job | undefined>

  /** Deletes done and failed jobs last touched before `before`, so the table does not grow forever; returns how many. */
  purgeFinished(before: Date): Promise<number>
}

/**
 * Named leases, so that one instance at a time runs a scheduled task (a cleanup pass, a backup).
 * A lease granted for `ttlMs` at time t covers [t, t + ttlMs); the owner must renew it before it ends
 * if the task runs longer, since afterwards anyone may take it over.
 */
export interface Locks {
  /**
   * Takes the lock for `ttlMs` when it is free, expired or already `owner`'s (which renews it).
   * True when `owner` now holds it. `name` and `owner` are at most 100 and 64 characters.
   */
  tryAcquire(name: string, owner: string, ttlMs: number): Promise<boolean>

  /**
   * Extends `owner`'s lock to `ttlMs` from now, even if it has lapsed, provided nobody took it over
   * meanwhile; false when someone else holds it or nobody does (never acquired, or released).
   */
  renew(name: string, owner: string, ttlMs: number): Promise<boolean>

  /** Frees `owner`'s lock at once; false (and nothing changes) when `owner` did not hold it. */
  release(name: string, owner: string): Promise<boolean>
}

/** Options shared by the job queue and lock adapters. */
export interface JobQueueOptions {
  /** The clock, in epoch ms; `Date.now` by default. Tests inject a fake one. */
  readonly now?: () => number
}
