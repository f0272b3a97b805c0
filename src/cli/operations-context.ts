import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import pino, { type Logger } from 'pino'
import type { BlobStore } from '../blob/blob-store.js'
import type { Config } from '../config.js'
import type { KyselyMetadataStore } from '../db/kysely-metadata-store.js'
import { FileService } from '../domain/files/file-service.js'
import type { ExclusiveRunDeps } from '../domain/operations/exclusive-run.js'
import { openBlobStore } from '../blob/open-blob-store.js'
import { openMetadataStore } from '../db/open-metadata-store.js'

/** Exit status when another run of the same job holds its lock (EX_TEMPFAIL: try again later). */
export const EXIT_BUSY = 75

/** What the operations commands work on: the configured storage, a file service over it, and the job lock. */
export interface OperationsContext {
  readonly config: Config
  readonly metadata: KyselyMetadataStore
  readonly blobs: BlobStore
  readonly files: FileService
  readonly logger: Logger
  readonly exclusive: ExclusiveRunDeps
  close(): Promise<void>
}

/**
 * Logs of a command go to stderr, at `warn` unless CABINET_LOG_LEVEL says otherwise: the command
 * prints its own report, and each clean-up or backup run is recorded in the database (cabinet stats).
 */
export function commandLogger(env: NodeJS.ProcessEnv): Logger {
  return pino({ level: env.CABINET_LOG_LEVEL ?? 'warn' }, pino.destination(2))
}

export async function openOperations(config: Config, logger: Logger): Promise<OperationsContext> {
  const metadata = await openMetadataStore(config)
  const blobs = await openBlobStore(config).catch(async (error: unknown) => {
    await metadata.close()
    throw error
  })
  const files = new FileService(metadata, blobs, config, logger)
  const instance = `cli:${hostname().slice(0, 30)}:${process.pid}:${randomBytes(2).toString('hex')}`
  return {
    config,
    metadata,
    blobs,
    files,
    logger,
    exclusive: { locks: metadata.locks, jobRuns: metadata.jobRuns, instance, lockTtlMs: config.jobLeaseMs, logger },
    close: async () => void (await Promise.all([metadata.close(), blobs.close()])),
  }
}
