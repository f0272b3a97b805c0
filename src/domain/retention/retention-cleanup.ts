import type { Logger } from 'pino'
import type { FileTotals, MetadataStore } from '../../db/metadata-store.js'
import type { FileService } from '../files/file-service.js'
import type { OnProgress } from '../progress.js'

/** What a clean-up did (or, on a dry run, would do). */
export interface CleanupReport {
  readonly dryRun: boolean
  /** The global retention used, in ms; null: files of users without their own policy never expire. */
  readonly retentionMs: number | null
  readonly before: FileTotals
  readonly removed: FileTotals
  readonly after: FileTotals
  /** Expired when listed, but pinned or deleted by their owner before clean-up got to them. */
  readonly skippedFiles: number
  /** Files whose blob could not be removed now; they stay hidden and the recovery pass finishes them. */
  readonly failures: ReadonlyArray<{ readonly fileId: string; readonly reason: string }>
}

export interface CleanupOptions {
  /** Files of users without their own retention expire after this; undefined: never. */
  readonly retentionMs: number | undefined
  readonly dryRun: boolean
  readonly now?: Date
  readonly onProgress?: OnProgress
  readonly signal?: AbortSignal
}

const PAGE = 200

/**
 * Retention clean-up: removes ready, unpinned files past their owner's retention (or the global
 * one), bytes and metadata together. Each file goes the way a user's delete does: hidden first
 * (so no download can start on it), then its blobs, then its row; a download already streaming
 * finishes from the open blob or fails whole, never half.
 */
export class RetentionCleanup {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly files: FileService,
    private readonly logger: Logger,
  ) {}

  async run(options: CleanupOptions): Promise<CleanupReport> {
    const now = options.now ?? new Date()
    const query = { now, defaultRetentionMs: options.retentionMs }
    const { files: beforeFiles, bytes: beforeBytes } = await this.metadata.stats.totals()
    const before = { files: beforeFiles, bytes: beforeBytes }
    const expected = await this.metadata.retention.countExpired(query)
    const phase = options.dryRun ? 'finding expired files' : 'removing expired files'
    const removed = { files: 0, bytes: 0 }
    const failures: Array<{ fileId: string; reason: string }> = []
    let skippedFiles = 0
    let seen = 0
    options.onProgress?.({ phase, done: 0, total: expected.files, unit: 'files' })

    for (let afterId: string | undefined; ; ) {
      const page = await this.metadata.retention.findExpired({ ...query, limit: PAGE, ...(afterId ? { afterId } : {}) })
      for (const candidate of page) {
        options.signal?.throwIfAborted()
        seen += 1
        if (options.dryRun) {
          removed.files += 1
          removed.bytes += candidate.sizeBytes
        } else {
          const hidden = await this.metadata.retention.markExpiredDeleting(candidate.id)
          if (!hidden) {
            skippedFiles += 1
          } else {
            try {
              await this.files.purge(hidden)
              removed.files += 1
              removed.bytes += hidden.sizeBytes
            } catch (error) {
              failures.push({ fileId: hidden.id, reason: error instanceof Error ? error.message : String(error) })
            }
          }
        }
        options.onProgress?.({ phase, done: seen, total: expected.files, unit: 'files' })
      }
      if (page.length < PAGE) break
      afterId = page.at(-1)!.id
    }

    const after = options.dryRun
      ? { files: before.files - removed.files, bytes: before.bytes - removed.bytes }
      : await this.metadata.stats.totals().then(({ files, bytes }) => ({ files, bytes }))
    const report: CleanupReport = {
      dryRun: options.dryRun,
      retentionMs: options.retentionMs ?? null,
      before,
      removed,
      after,
      skippedFiles,
      failures,
    }
    this.logger.info({ job: 'cleanup', ...report, failures: failures.length }, options.dryRun ? 'clean-up dry run' : 'clean-up done')
    return report
  }
}
