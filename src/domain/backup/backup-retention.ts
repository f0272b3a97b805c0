import { readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'

const ARCHIVE_NAME = /^cabinet-backup-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z\.tar\.gz$/

/** `cabinet-backup-20261201T020000000Z.tar.gz`: sortable, and its time survives copies that lose mtimes. */
export function archiveName(at: Date): string {
  return `cabinet-backup-${at.toISOString().replace(/[-:.]/g, '')}.tar.gz`
}

/** When the archive was taken, from its name; undefined for any other file. */
export function archiveTime(name: string): Date | undefined {
  const m = ARCHIVE_NAME.exec(name)
  if (!m) return undefined
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as number[]
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!))
}

/**
 * After a successful backup only: removes Cabinet's archives in `dir` taken more than `retentionMs`
 * before `now`, never `keep` (the one just written) and never a file that is not a Cabinet archive.
 */
export async function pruneArchives(dir: string, options: { now: Date; retentionMs: number; keep: string }): Promise<string[]> {
  const cutoff = options.now.getTime() - options.retentionMs
  const removed: string[] = []
  for (const name of (await readdir(dir)).sort()) {
    const takenAt = archiveTime(name)
    if (!takenAt || name === options.keep || takenAt.getTime() >= cutoff) continue
    await unlink(join(dir, name))
    removed.push(name)
  }
  return removed
}
