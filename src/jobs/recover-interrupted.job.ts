import type { Logger } from 'pino'
import type { LocalBlobStore } from '../blob/local-blob-store.js'
import type { FileService } from '../domain/files/file-service.js'

export interface RecoveryJobDeps {
  readonly files: FileService
  readonly localBlobs: LocalBlobStore | undefined
  readonly uploadTimeoutMs: number
  readonly logger: Logger
}

/** One pass: abandoned uploads, half-done deletes and temp files older than any live upload. */
export async function recoverInterruptedWork(deps: RecoveryJobDeps, options: { tempOlderThanMs: number }): Promise<void> {
  const log = deps.logger.child({ job: 'recover-interrupted' })
  try {
    const files = await deps.files.recoverInterrupted()
    const tempFiles = (await deps.localBlobs?.removeStaleTempFiles(options.tempOlderThanMs)) ?? 0
    if (files > 0 || tempFiles > 0) log.info({ files, tempFiles }, 'cleaned up interrupted work')
  } catch (error) {
    log.error({ err: error }, 'recovery pass failed; it will run again')
  }
}

/** Runs a pass now (every temp file is stale at start: this process has no upload in flight) and then periodically. */
export async function startRecoveryJob(deps: RecoveryJobDeps): Promise<() => void> {
  await recoverInterruptedWork(deps, { tempOlderThanMs: 0 })
  const every = Math.min(deps.uploadTimeoutMs, 5 * 60_000)
  const timer = setInterval(() => void recoverInterruptedWork(deps, { tempOlderThanMs: deps.uploadTimeoutMs }), every)
  timer.unref()
  return () => clearInterval(timer)
}
