import type { Logger } from 'pino'
import type { JobRun, JobRunOutcome, JobRunRepository } from '../../db/metadata-store.js'
import type { Locks } from '../../jobs/job-queue.js'

/** The operations jobs: each has its own lock and its own runs. */
export type OperationsJob = 'cleanup' | 'backup'

export interface ExclusiveRunDeps {
  readonly locks: Locks
  readonly jobRuns: JobRunRepository
  /** This process, as named in locks and run records. */
  readonly instance: string
  /** The job's lock lasts this long unless renewed (at a third of it) while the work goes on. */
  readonly lockTtlMs: number
  readonly logger: Logger
  /** Told about every finished run, for the job-run counters in /metrics. */
  readonly onFinished?: (job: OperationsJob, outcome: Exclude<JobRunOutcome, 'running'>) => void
}

export type ExclusiveRunResult<T> =
  | { readonly status: 'succeeded'; readonly run: JobRun; readonly result: T }
  | { readonly status: 'failed'; readonly run: JobRun; readonly error: Error }
  /** Another run of the job held its lock: nothing was done. */
  | { readonly status: 'skipped'; readonly run: JobRun; readonly reason: string }
  /** This scheduled tick already has a run (another instance fired it first): nothing was done or recorded. */
  | { readonly status: 'duplicate' }

/** The report a run records as its summary. */
export type Summarise<T> = (result: T) => unknown

/**
 * Runs `work` as one recorded run of `job`, never alongside another run of it anywhere: the job's
 * named lock (in the shared database) is held and renewed throughout, and losing it aborts the work.
 * A scheduled run names its cron tick, which only one instance may claim.
 */
export async function runExclusive<T>(
  deps: ExclusiveRunDeps,
  job: OperationsJob,
  options: { triggeredBy: 'schedule' | 'cli'; scheduledFor?: Date; summarise?: Summarise<T> },
  work: (signal: AbortSignal) => Promise<T>,
): Promise<ExclusiveRunResult<T>> {
  const run = await deps.jobRuns.start({
    job,
    triggeredBy: options.triggeredBy,
    ...(options.scheduledFor ? { scheduledFor: options.scheduledFor } : {}),
    instance: deps.instance,
    startedAt: new Date(),
  })
  if (!run) return { status: 'duplicate' }
  const lockName = `job:${job}`
  const log = deps.logger.child({ job, runId: run.id })
  const finish = async (outcome: Exclude<JobRunOutcome, 'running'>, extra: { summary?: unknown; error?: string }) => {
    await deps.jobRuns.finish(run.id, { outcome, finishedAt: new Date(), ...extra })
    deps.onFinished?.(job, outcome)
  }

  if (!(await deps.locks.tryAcquire(lockName, deps.instance.slice(0, 64), deps.lockTtlMs))) {
    const reason = `another ${job} run is still going`
    await finish('skipped', { error: reason })
    log.warn({ reason }, `${job} skipped`)
    return { status: 'skipped', run, reason }
  }
  const lost = new AbortController()
  const renew = setInterval(() => {
    void deps.locks.renew(lockName, deps.instance.slice(0, 64), deps.lockTtlMs).then(
      (held) => {
        if (!held) lost.abort(new Error(`lost the ${job} lock to another instance`))
      },
      () => {},
    )
  }, deps.lockTtlMs / 3)
  try {
    // Whoever held the lock before us is gone: runs it left "running" were interrupted.
    await deps.jobRuns.markInterrupted(job, run.id, new Date())
    const result = await work(lost.signal)
    await finish('succeeded', { summary: options.summarise ? options.summarise(result) : result })
    return { status: 'succeeded', run, result }
  } catch (caught) {
    const error = caught instanceof Error ? caught : new Error(String(caught))
    await finish('failed', { error: error.message }).catch((recordError: unknown) => log.error({ err: recordError }, 'could not record the failed run'))
    log.error({ err: error }, `${job} failed`)
    return { status: 'failed', run, error }
  } finally {
    clearInterval(renew)
    await deps.locks.release(lockName, deps.instance.slice(0, 64)).catch(() => {})
  }
}
