import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import type { JobStatus } from '../domain/stats/stats-service.js'
import { StatsService } from '../domain/stats/stats-service.js'
import { toStatsJson } from '../http/schemas.js'
import { commandLogger, openOperations } from './operations-context.js'
import { formatBytes } from './progress.js'

function describeJob(name: string, status: JobStatus): string {
  const schedule = status.schedule ? `scheduled "${status.schedule}"` : 'not scheduled'
  const last = status.last
  if (!last) return `${name}: ${schedule}; never run`
  const when = (last.finishedAt ?? last.startedAt).toISOString()
  const success = status.lastSucceeded && status.lastSucceeded !== last ? `; last success ${status.lastSucceeded.startedAt.toISOString()}` : ''
  return `${name}: ${schedule}; last run ${last.outcome} at ${when} (${last.triggeredBy})${last.error ? `: ${last.error}` : ''}${success}`
}

/** `cabinet stats [--json]`: the same numbers as GET /api/admin/stats. */
export async function statsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } })
  const config = loadConfig(process.env)
  const context = await openOperations(config, commandLogger(process.env))
  try {
    const stats = await new StatsService(context.metadata, context.blobs, {
      minFreeBytes: config.minFreeBytes,
      schedules: { cleanup: config.cleanupSchedule, backup: config.backupSchedule },
    }).collect()
    if (values.json) {
      console.log(JSON.stringify(toStatsJson(stats)))
      return 0
    }
    const { files, storage } = stats
    console.log(`Files: ${files.files} (${formatBytes(files.bytes)}) of ${files.users} users; ${files.pinned} pinned`)
    const disk = storage.diskFreeBytes === undefined ? 'object storage' : `${formatBytes(storage.diskFreeBytes)} free (floor ${formatBytes(storage.minFreeBytes)})`
    console.log(`Storage: ${formatBytes(storage.usedBytes)} used by Cabinet (metadata ${formatBytes(storage.metadataBytes ?? 0)}); disk ${disk}`)
    if (stats.byType.length > 0) console.log(`By type: ${stats.byType.map((t) => `${t.type} ${t.files} (${formatBytes(t.bytes)})`).join(', ')}`)
    if (stats.topUsers.length > 0) console.log(`Top users: ${stats.topUsers.map((u) => `${u.userId} ${u.files} (${formatBytes(u.bytes)})`).join(', ')}`)
    for (const file of stats.largest.slice(0, 5)) console.log(`  largest: ${file.id} ${file.userId} ${formatBytes(file.sizeBytes)} ${JSON.stringify(file.originalName)}`)
    for (const day of stats.perDay.slice(-7)) {
      console.log(`  ${day.day}: ${day.uploads} uploads (${formatBytes(day.uploadBytes)}), ${day.downloads} downloads (${formatBytes(day.downloadBytes)})`)
    }
    console.log(describeJob('Clean-up', stats.jobs.cleanup))
    console.log(describeJob('Backup', stats.jobs.backup))
    return 0
  } finally {
    await context.close()
  }
}
