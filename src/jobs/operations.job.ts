import { Cron } from 'croner'
import type { Logger } from 'pino'
import { runExclusive, type ExclusiveRunDeps, type OperationsJob } from '../domain/operations/exclusive-run.js'
import type { JobQueue } from './job-queue.js'
import type { JobHandler } from './job-runner.js'

/** Queue kinds of the scheduled operations jobs. */
export const OPERATIONS_KINDS: Readonly<Record<OperationsJob, string>> = { cleanup: 'scheduled-cleanup', backup: 'scheduled-backup' }

/** The work of each job; given an abort signal that fires on shutdown or when the job's lock is lost. */
export type OperationsWork = Readonly<Record<OperationsJob, (signal: AbortSignal) => Promise<unknown>>>

/**
 * Queue handlers for the scheduled runs. Each run goes through `runExclusive`: its cron tick is
 * claimed in `job_runs` (so a tick fired by every instance runs once), the job's named lock keeps
 * it from ever running beside another run of itself (scheduled or from the CLI), and the outcome
 * is recorded. A failed run fails its queue job too; nothing is retried before the next tick.
 */
export function operationsJobHandlers(
  deps: ExclusiveRunDeps,
  work: OperationsWork,
  /** Only these jobs run here: an instance takes only the jobs it schedules (e.g. backups where the backup disk is). */
  jobs: readonly OperationsJob[] = ['cleanup', 'backup'],
): Record<string, JobHandler> {
  const handler =
    (job: OperationsJob): JobHandler =>
    async (queued, shutdown) => {
      const { scheduledFor } = (queued.payload ?? {}) as { scheduledFor?: string }
      const outcome = await runExclusive(
        deps,
        job,
        { triggeredBy: 'schedule', ...(scheduledFor ? { scheduledFor: new Date(scheduledFor) } : {}) },
        (lockLost) => work[job](AbortSignal.any([shutdown, lockLost])),
      )
      if (outcome.status === 'failed') throw outcome.error
    }
  return Object.fromEntries(jobs.map((job) => [OPERATIONS_KINDS[job], handler(job)]))
}

/**
 * Fires each configured job on its cron expression (server's local time) by putting it on the
 * shared queue. The dedupe key keeps at most one waiting or running per job, so ticks that come
 * while a run is still going are dropped rather than piled up. Returns a function that stops the timers.
 */
export function scheduleOperations(
  queue: JobQueue,
  schedules: Partial<Record<OperationsJob, string>>,
  logger: Logger,
): () => void {
  const crons: Cron[] = []
  for (const [job, expression] of Object.entries(schedules) as Array<[OperationsJob, string | undefined]>) {
    if (expression === undefined) continue
    const cron = new Cron(expression, { catch: true }, (self: Cron) => {
      // The tick every instance agrees on (clocks in sync to the second): croner fires just after it.
      const firedAt = self.currentRun()?.getTime() ?? Date.now()
      const scheduledFor = new Date(Math.floor(firedAt / 1000) * 1000).toISOString()
      queue
        .enqueue({ kind: OPERATIONS_KINDS[job], payload: { scheduledFor }, dedupeKey: OPERATIONS_KINDS[job], maxAttempts: 1 })
        .catch((error: unknown) => logger.error({ err: error, job }, 'could not schedule a run'))
    })
    crons.push(cron)
    logger.info({ job, schedule: expression, next: cron.nextRun()?.toISOString() }, 'scheduled')
  }
  return () => {
    for (const cron of crons) cron.stop()
  }
}
