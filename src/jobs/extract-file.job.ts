import type { Logger } from 'pino'
import type { ExtractionService } from '../domain/extraction/extraction-service.js'
import type { JobQueue } from './job-queue.js'
import type { JobHandler } from './job-runner.js'

export { EXTRACT_FILE } from '../domain/extraction/extraction-service.js'
export const CATCH_UP_EXTRACTIONS = 'catch-up-extractions'

/** Extracts one file (queued with its upload). */
export function extractFileJob(extraction: ExtractionService): JobHandler {
  return (job, signal) => extraction.handleJob(job, signal)
}

/** Queues extraction for files that never had one, and fails extractions whose job died, in batches until none is left. */
export function catchUpExtractionsJob(extraction: ExtractionService): JobHandler {
  return async () => {
    const batch = 500
    while ((await extraction.catchUp(batch)) >= batch) {
      // Another full batch may be waiting.
    }
  }
}

/** Puts a catch-up pass on the shared queue now and every `everyMs`; the dedupe key keeps at most one waiting. */
export async function scheduleExtractionCatchUp(queue: JobQueue, everyMs: number, logger: Logger): Promise<() => void> {
  const enqueue = () =>
    queue.enqueue({ kind: CATCH_UP_EXTRACTIONS, payload: {}, dedupeKey: CATCH_UP_EXTRACTIONS, maxAttempts: 1 }).catch((error: unknown) => {
      logger.error({ err: error }, 'could not schedule the extraction catch-up pass')
    })
  await enqueue()
  const timer = setInterval(() => void enqueue(), everyMs)
  timer.unref()
  return () => clearInterval(timer)
}
