import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { runExclusive } from '../domain/operations/exclusive-run.js'
import { RetentionCleanup, type CleanupReport } from '../domain/retention/retention-cleanup.js'
import { parseDurationMs } from '../duration.js'
import { commandLogger, EXIT_BUSY, openOperations } from './operations-context.js'
import { createProgressReporter, formatBytes } from './progress.js'

const USAGE = 'usage: cabinet cleanup [--older-than 30d|never] [--dry-run] [--json]'

function describeTotals(totals: { files: number; bytes: number }): string {
  return `${totals.files} files, ${formatBytes(totals.bytes)}`
}

function printReport(report: CleanupReport): void {
  const retention = report.retentionMs === null ? 'no global retention' : `global retention ${report.retentionMs / 86_400_000} days`
  console.log(`${report.dryRun ? 'Clean-up dry run (nothing removed)' : 'Clean-up'}: ${retention}; users' own retention and pinned files respected`)
  console.log(`  before:  ${describeTotals(report.before)}`)
  console.log(`  ${report.dryRun ? 'expired' : 'removed'}: ${describeTotals(report.removed)}`)
  console.log(`  after:   ${describeTotals(report.after)}`)
  if (report.skippedFiles > 0) console.log(`  ${report.skippedFiles} files were pinned or deleted meanwhile and kept`)
  for (const failure of report.failures) console.error(`  could not remove ${failure.fileId}: ${failure.reason} (the recovery pass will finish it)`)
}

/** `cabinet cleanup`: removes expired files now, under the same lock as the scheduled clean-up. */
export async function cleanupCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { 'older-than': { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } } })
  const config = loadConfig(process.env)
  let retentionMs = config.retentionMs
  const olderThan = values['older-than']
  if (olderThan !== undefined) {
    const parsed = olderThan === 'never' ? undefined : parseDurationMs(olderThan)
    if (olderThan !== 'never' && parsed === undefined) throw new Error(`--older-than "${olderThan}" is not a duration like 30d, 12h, 10m or 5s\n${USAGE}`)
    retentionMs = parsed
  }
  const dryRun = values['dry-run'] === true
  const logger = commandLogger(process.env)
  const context = await openOperations(config, logger)
  const progress = createProgressReporter('cleanup')
  try {
    const cleanup = new RetentionCleanup(context.metadata, context.files, logger)
    const work = (signal?: AbortSignal) => cleanup.run({ retentionMs, dryRun, onProgress: progress.onProgress, ...(signal ? { signal } : {}) })
    // A dry run changes nothing, so it needs no lock and records no run.
    const outcome = dryRun ? { status: 'succeeded' as const, result: await work() } : await runExclusive(context.exclusive, 'cleanup', { triggeredBy: 'cli' }, work)
    progress.stop()
    if (outcome.status === 'skipped') {
      console.error(`cabinet: ${outcome.reason}; try again once it has finished`)
      return EXIT_BUSY
    }
    if (outcome.status === 'failed') throw outcome.error
    if (outcome.status === 'duplicate') throw new Error('unexpected duplicate run')
    if (values.json) console.log(JSON.stringify(outcome.result))
    else printReport(outcome.result)
    return outcome.result.failures.length === 0 ? 0 : 1
  } finally {
    progress.stop()
    await context.close()
  }
}
