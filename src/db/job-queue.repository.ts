import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable, SelectQueryBuilder } from 'kysely'
import type {
  ClaimOptions,
  EnqueueOptions,
  FailOptions,
  Job,
  JobQueue,
  JobQueueOptions,
  JsonValue,
  Locks,
} from '../jobs/job-queue.js'
import type { Database, JobsTable } from './database.js'
import { precompile } from './precompiled.js'

/** Column widths from migration 0002. SQLite does not enforce them, so check here to behave the same on every database. */
const MAX_KIND_CHARS = 64
const MAX_WORKER_ID_CHARS = 64
const MAX_DEDUPE_KEY_CHARS = 200
const MAX_LOCK_NAME_CHARS = 100
const MAX_LOCK_OWNER_CHARS = 64

const DEFAULT_MAX_ATTEMPTS = 5
/** Lost races on a dedupe key before giving up; each loss means another enqueuer or worker moved at that very moment. */
const ENQUEUE_TRIES = 5

export interface KyselyJobQueueOptions extends JobQueueOptions {
  /** Backoff after the first failed attempt, doubled after each further one; default 1 s. */
  readonly retryBaseMs?: number
  /** Longest backoff; default 10 min. */
  readonly retryMaxMs?: number
  /** Uniform in [0, 1), for the jitter; `Math.random` by default. */
  readonly random?: () => number
}

/**
 * Delay before retrying after `attempts` failed attempts: base × 2^(attempts − 1), capped at `maxMs`,
 * then scaled by a random factor in [0.5, 1) so that jobs failing together do not retry together.
 */
export function retryDelayMs(attempts: number, options: { baseMs: number; maxMs: number; random: () => number }): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 52)
  const capped = Math.min(options.baseMs * 2 ** exponent, options.maxMs)
  return Math.round(capped * (0.5 + options.random() / 2))
}

function optionalDate(ms: number | string | null): Date | undefined {
  return ms === null ? undefined : new Date(Number(ms))
}

// bigint columns come back from pg as strings, hence Number() on every time.
function jobRowToJob(row: Selectable<JobsTable>): Job {
  return {
    id: row.id,
    kind: row.kind,
    payload: JSON.parse(row.payload) as JsonValue,
    state: row.state,
    runAt: new Date(Number(row.run_at)),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    lockedBy: row.locked_by ?? undefined,
    lockedUntil: optionalDate(row.locked_until),
    lastError: row.last_error ?? undefined,
    dedupeKey: row.dedupe_key ?? undefined,
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  }
}

/**
 * Candidates a PostgreSQL claim reads per kind: as many claimers as this can race for one kind
 * before one of them falls back to the full ordered scan.
 */
const POSTGRES_CANDIDATES_PER_BRANCH = 16

/** What a claim compares candidate jobs by (see claim). */
interface ClaimCandidate {
  readonly id: string
  readonly run_at: number
  readonly created_at: number
}

function checkText(what: string, value: string, maxChars: number): void {
  if (value.length === 0 || value.length > maxChars) throw new RangeError(`${what} must be 1 to ${maxChars} characters`)
}

function checkDuration(what: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`${what} must be a positive whole number of ms`)
}

/** Every upload queues its extraction, so this insert is compiled once (see precompile). */
const ENQUEUE = precompile(
  ['id', 'kind', 'payload', 'runAt', 'maxAttempts', 'dedupeKey', 'now'],
  (db: Kysely<Database>, id, kind, payload, runAt, maxAttempts, dedupeKey, now) =>
    db
      .insertInto('jobs')
      .values({
        id,
        kind,
        payload,
        state: 'queued',
        run_at: runAt,
        attempts: 0,
        max_attempts: maxAttempts,
        locked_by: null,
        locked_until: null,
        last_error: null,
        dedupe_key: dedupeKey,
        created_at: now,
        updated_at: now,
      })
      // Only queued and running jobs keep their key, so a conflict means one of those exists.
      .onConflict((oc) => oc.column('dedupe_key').doNothing())
      .returning('id'),
)

/**
 * The job queue on the `jobs` table. A claim is one UPDATE of the row picked by a subquery (on
 * PostgreSQL a second one when every candidate of the first is held): on PostgreSQL the subquery
 * takes the row with `FOR UPDATE SKIP LOCKED`, so concurrent claimers take different rows without
 * waiting; SQLite runs one writer at a time, which makes the statement atomic.
 */
export class KyselyJobQueue implements JobQueue {
  private readonly now: () => number
  private readonly retryBaseMs: number
  private readonly retryMaxMs: number
  private readonly random: () => number

  constructor(
    private readonly db: Kysely<Database>,
    readonly dialect: 'sqlite' | 'postgres',
    options: KyselyJobQueueOptions = {},
  ) {
    this.now = options.now ?? Date.now
    this.retryBaseMs = options.retryBaseMs ?? 1_000
    this.retryMaxMs = options.retryMaxMs ?? 10 * 60_000
    this.random = options.random ?? Math.random
  }

  async enqueue(job: EnqueueOptions): Promise<string> {
    checkText('Job kind', job.kind, MAX_KIND_CHARS)
    if (job.dedupeKey !== undefined) checkText('Dedupe key', job.dedupeKey, MAX_DEDUPE_KEY_CHARS)
    const maxAttempts = job.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer')
    const payload = JSON.stringify(job.payload)
    if (payload === undefined) throw new TypeError('Job payload must be JSON-serialisable')
    const dedupeKey = job.dedupeKey ?? null

    for (let tries = 0; tries < ENQUEUE_TRIES; tries++) {
      const now = this.now()
      const [inserted] = (
        await this.db.executeQuery(
          ENQUEUE(this.db, randomBytes(16).toString('hex'), job.kind, payload, job.runAt?.getTime() ?? now, maxAttempts, dedupeKey, now),
        )
      ).rows
      if (inserted) return inserted.id
      if (dedupeKey === null) throw new Error('Job insert without a dedupe key returned no row')
      const existing = await this.db.selectFrom('jobs').select('id').where('dedupe_key', '=', dedupeKey).executeTakeFirst()
      if (existing) return existing.id
      // It finished between the two statements: the key is free again, try the insert once more.
    }
    throw new Error(`Could not enqueue a ${job.kind} job: its dedupe key kept changing hands`)
  }

  async claim(options: ClaimOptions): Promise<Job | undefined> {
    checkText('Worker id', options.workerId, MAX_WORKER_ID_CHARS)
    checkDuration('leaseMs', options.leaseMs)
    if (options.kinds.length === 0) return undefined
    const now = this.now()
    const kinds = [...options.kinds]

    // A job whose lease lapsed on its last attempt most likely crashed its worker: stop, don't loop.
    await this.db
      .updateTable('jobs')
      .set({
        state: 'failed',
        last_error: 'Lease expired on the last attempt (worker crashed or overran its lease)',
        locked_by: null,
        locked_until: null,
        dedupe_key: null,
        updated_at: now,
      })
      .where('state', '=', 'running')
      .where('kind', 'in', kinds)
      .where('locked_until', '<=', now)
      .where((eb) => eb('attempts', '>=', eb.ref('max_attempts')))
      .execute()

    // The first due jobs of each kind, and the first lapsed leases, each read straight off the
    // jobs_claim_order index; the earliest of those few wins. (One ordered query over all due jobs
    // sorted every waiting job on each claim: 15 ms with 100,000 waiting.)
    const perBranch = this.dialect === 'postgres' ? POSTGRES_CANDIDATES_PER_BRANCH : 1
    const firstOf = (candidates: SelectQueryBuilder<Database, 'jobs', ClaimCandidate>) =>
      candidates.orderBy('run_at').orderBy('created_at').orderBy('id').limit(perBranch)
    const candidates = this.db.selectFrom('jobs').select(['id', 'run_at', 'created_at'])
    const branches = [
      ...kinds.map((kind) => firstOf(candidates.where('state', '=', 'queued').where('kind', '=', kind).where('run_at', '<=', now))),
      firstOf(
        candidates
          .where('state', '=', 'running')
          .where('kind', 'in', kinds)
          .where('locked_until', '<=', now)
          .where((eb) => eb('attempts', '<', eb.ref('max_attempts'))),
      ),
    ].map((branch, index) => this.db.selectFrom(branch.as(`candidate_${index}`)).selectAll())
    const union = branches.slice(1).reduce((all, branch) => all.unionAll(branch), branches[0]!)

    if (this.dialect === 'sqlite') {
      const next = this.db.selectFrom(union.as('candidates')).select('id').orderBy('run_at').orderBy('created_at').orderBy('id').limit(1)
      return this.take(next, options, now)
    }
    // PostgreSQL: lock only the row taken, the first candidate no other claimer holds. Should every
    // candidate be held (more claimers at once than candidates), the full ordered scan decides.
    const due = (jobs: SelectQueryBuilder<Database, 'jobs', object>) =>
      jobs
        .select('id')
        .where('kind', 'in', kinds)
        .where((eb) =>
          eb.or([
            eb.and([eb('state', '=', 'queued'), eb('run_at', '<=', now)]),
            eb.and([eb('state', '=', 'running'), eb('locked_until', '<=', now), eb('attempts', '<', eb.ref('max_attempts'))]),
          ]),
        )
        .orderBy('run_at')
        .orderBy('created_at')
        .orderBy('id')
        .limit(1)
        .forUpdate()
        .skipLocked()
    const fromCandidates = due(this.db.selectFrom('jobs').where('id', 'in', this.db.selectFrom(union.as('candidates')).select('id')))
    return (await this.take(fromCandidates, options, now)) ?? this.take(due(this.db.selectFrom('jobs')), options, now)
  }

  /** Marks the job `next` picks running for the worker; undefined when it picks none. */
  private async take<DB, TB extends keyof DB>(next: SelectQueryBuilder<DB, TB, { id: string }>, options: ClaimOptions, now: number): Promise<Job | undefined> {
    const row = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        state: 'running',
        attempts: eb('attempts', '+', 1),
        locked_by: options.workerId,
        locked_until: now + options.leaseMs,
        updated_at: now,
      }))
      .where('id', '=', next)
      .returningAll()
      .executeTakeFirst()
    return row && jobRowToJob(row)
  }

  async complete(id: string, workerId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('jobs')
      .set({ state: 'done', locked_by: null, locked_until: null, dedupe_key: null, updated_at: this.now() })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('locked_by', '=', workerId)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async fail(id: string, workerId: string, options: FailOptions): Promise<'queued' | 'failed' | undefined> {
    const held = await this.db
      .selectFrom('jobs')
      .select(['attempts', 'max_attempts'])
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('locked_by', '=', workerId)
      .executeTakeFirst()
    if (!held) return undefined
    const attempts = Number(held.attempts)
    const now = this.now()
    const retry = options.retryable && attempts < Number(held.max_attempts)
    const state = retry ? 'queued' : 'failed'
    const result = await this.db
      .updateTable('jobs')
      .set({
        state,
        last_error: options.error,
        locked_by: null,
        locked_until: null,
        updated_at: now,
        ...(retry
          ? { run_at: now + retryDelayMs(attempts, { baseMs: this.retryBaseMs, maxMs: this.retryMaxMs, random: this.random }) }
          : { dedupe_key: null }),
      })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('locked_by', '=', workerId)
      // Unchanged since the read above: not reclaimed, even by this same worker.
      .where('attempts', '=', attempts)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n ? state : undefined
  }

  async extendLease(id: string, workerId: string, leaseMs: number): Promise<boolean> {
    checkDuration('leaseMs', leaseMs)
    const now = this.now()
    const result = await this.db
      .updateTable('jobs')
      .set({ locked_until: now + leaseMs, updated_at: now })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('locked_by', '=', workerId)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async get(id: string): Promise<Job | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst()
    return row && jobRowToJob(row)
  }

  async purgeFinished(before: Date): Promise<number> {
    const result = await this.db
      .deleteFrom('jobs')
      .where('state', 'in', ['done', 'failed'])
      .where('updated_at', '<', before.getTime())
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}

/** Named leases on the `locks` table; taking one is a single upsert, atomic on SQLite (≥ 3.35) and PostgreSQL alike. */
export class KyselyLocks implements Locks {
  private readonly now: () => number

  constructor(
    private readonly db: Kysely<Database>,
    // Same SQL on both; kept so every repository is built the same way.
    readonly dialect: 'sqlite' | 'postgres',
    options: JobQueueOptions = {},
  ) {
    this.now = options.now ?? Date.now
  }

  async tryAcquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkText('Lock name', name, MAX_LOCK_NAME_CHARS)
    checkText('Lock owner', owner, MAX_LOCK_OWNER_CHARS)
    checkDuration('ttlMs', ttlMs)
    const now = this.now()
    const row = await this.db
      .insertInto('locks')
      .values({ name, owner, expires_at: now + ttlMs })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ owner, expires_at: now + ttlMs })
          .where((eb) => eb.or([eb('locks.expires_at', '<=', now), eb('locks.owner', '=', owner)])),
      )
      .returning('name')
      .executeTakeFirst()
    return row !== undefined
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    checkDuration('ttlMs', ttlMs)
    const result = await this.db
      .updateTable('locks')
      .set({ expires_at: this.now() + ttlMs })
      .where('name', '=', name)
      .where('owner', '=', owner)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async release(name: string, owner: string): Promise<boolean> {
    const result = await this.db.deleteFrom('locks').where('name', '=', name).where('owner', '=', owner).executeTakeFirst()
    return result.numDeletedRows > 0n
  }
}
