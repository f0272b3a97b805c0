import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { ConsistencyCheck, type VerifyReport } from '../domain/verify/consistency-check.js'
import { commandLogger, openOperations } from './operations-context.js'
import { createProgressReporter, formatBytes } from './progress.js'

export function printVerifyReport(report: VerifyReport): void {
  const { files, blobs, bytesHashed } = report.checked
  console.log(`Checked ${files} files (${formatBytes(bytesHashed)} hashed) and ${blobs} blobs: ${report.checks.join(', ')}.`)
  if (report.clean) {
    console.log('Clean: no inconsistency found.')
    return
  }
  console.log(`${report.problems.length} problems${report.repaired ? '' : ' (run with --repair to fix what can be fixed safely)'}:`)
  for (const problem of report.problems) {
    const subject = problem.fileId ?? problem.key ?? problem.path ?? ''
    console.log(`  ${problem.kind} ${subject}: ${problem.detail}${problem.repair ? ` -> ${problem.repair}` : ''}`)
  }
  if (report.quarantineDir) console.log(`Quarantined items are in ${report.quarantineDir}`)
}

/** `cabinet verify [--repair] [--json]`: exit status 0 only when nothing was found. */
export async function verifyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { repair: { type: 'boolean' }, json: { type: 'boolean' } } })
  const config = loadConfig(process.env)
  const logger = commandLogger(process.env)
  const context = await openOperations(config, logger)
  const progress = createProgressReporter('verify')
  try {
    const report = await new ConsistencyCheck(context.metadata, context.blobs, context.files, logger).run({
      repair: values.repair === true,
      uploadTimeoutMs: config.uploadTimeoutMs,
      quarantineRoot: config.quarantineDir,
      onProgress: progress.onProgress,
    })
    progress.stop()
    if (values.json) console.log(JSON.stringify(report))
    else printVerifyReport(report)
    return report.clean ? 0 : 1
  } finally {
    progress.stop()
    await context.close()
  }
}
