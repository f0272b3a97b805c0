import type { Logger } from 'pino'
import type { BlobStore } from '../blob/blob-store.js'
import type { RateLimitRepository } from '../db/metadata-store.js'
import type { AuditLog } from '../domain/auth/audit-log.js'
import { abandonedAfterMs, type FileService } from '../domain/files/file-service.js'
import type { JobQueue } from './job-queue.js'
import type { JobHandler } from './job-runner.js'

export const RECOVER_INTERRUPTED = 'recover-interrupted'

/** Finished jobs are kept this long for inspection, then purged. */
const FINISHED_JOB_RETENTION_MS = 7 * 86_400_000

export interface RecoveryJobDeps {
  readonly files: FileService
  readonly blobs: BlobStore
  readonly jobs: JobQueue
  readonly uploadTimeoutMs: number
  readonly logger: Logger
  /** Audit entries older than `auditRetentionDays` (0: never) are purged in each pass. */
  readonly audit?: AuditLog
  readonly auditRetentionDays?: number
  /** Ended rate-limit windows are purged in each pass. */
  readonly rateLimits?: RateLimitRepository
}

/**
 * Finishes what a crash interrupted: abandoned uploads, half-done deletes, and partial
 * writes. Only work older than the upload timeout and a grace period is touched, so an upload
 * in flight on another instance is never mistaken for debris. Also purges week-old finished jobs, old audit
 * entries and ended rate-limit windows.
 */
export function recoverInterruptedJob(deps: RecoveryJobDeps): JobHandler {
  return async () => {
    const files = await deps.files.recoverInterrupted()
    const partialWrites = (await deps.blobs.removeAbandonedWrites?.(abandonedAfterMs(deps.uploadTimeoutMs))) ?? 0
    const purgedJobs = await deps.jobs.purgeFinished(new Date(Date.now() - FINISHED_JOB_RETENTION_MS))
    const purgedAudit = (await deps.audit?.purge(deps.auditRetentionDays ?? 0)) ?? 0
    const purgedRateLimits = (await deps.rateLimits?.purgeExpired(new Date())) ?? 0
    if (files > 0 || partialWrites > 0 || purgedJobs > 0 || purgedAudit > 0) {
      deps.logger.info({ job: RECOVER_INTERRUPTED, files, partialWrites, purgedJobs, purgedAudit, purgedRateLimits }, 'cleaned up interrupted work')
    }
  }
}

/**
 * Puts a recovery pass on the shared queue now and every `everyMs`; the dedupe key keeps
 * at most one waiting, so however many instances run, one of them does each pass.
 */
export async function scheduleRecovery(queue: JobQueue, everyMs: number, logger: Logger): Promise<() => void> {
  const enqueue = () =>
    queue.enqueue({ kind: RECOVER_INTERRUPTED, payload: {}, dedupeKey: RECOVER_INTERRUPTED, maxAttempts: 1 }).catch((error: unknown) => {
      logger.error({ err: error }, 'could not schedule the recovery pass')
    })
  await enqueue()
  const timer = setInterval(() => void enqueue(), everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
