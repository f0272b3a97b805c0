import type { Logger } from 'pino'
import type { BlobStore } from '../blob/blob-store.js'
import type { FileService } from '../domain/files/file-service.js'
import type { JobQueue } from './job-queue.js'
import type { JobHandler } from './job-runner.js'

export const RECOVER_INTERRUPTED = 'recover-interrupted'

export interface RecoveryJobDeps {
  readonly files: FileService
  readonly blobs: BlobStore
  readonly uploadTimeoutMs: number
  readonly logger: Logger
}

/**
 * Finishes what a crash interrupted: abandoned uploads, half-done deletes, and partial
 * writes. Only work older than the upload timeout is touched, so an upload in flight on
 * another instance is never mistaken for debris.
 */
export function recoverInterruptedJob(deps: RecoveryJobDeps): JobHandler {
  return async () => {
    const files = await deps.files.recoverInterrupted()
    const partialWrites = (await deps.blobs.removeAbandonedWrites?.(deps.uploadTimeoutMs)) ?? 0
    if (files > 0 || partialWrites > 0) deps.logger.info({ job: RECOVER_INTERRUPTED, files, partialWrites }, 'cleaned up interrupted work')
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
