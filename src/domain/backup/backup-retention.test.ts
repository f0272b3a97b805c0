import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { archiveName, archiveTime, pruneArchives } from './backup-retention.js'

const DAY = 86_400_000

describe('backup archive names and retention', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cabinet-retention-'))
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  it('names archives by their UTC time, to the millisecond, and reads the time back', () => {
    const at = new Date('2026-12-01T02:00:00.123Z')
    expect(archiveName(at)).toBe('cabinet-backup-20261201T020000123Z.tar.gz')
    expect(archiveTime(archiveName(at))).toEqual(at)
    expect(archiveTime('cabinet-backup-latest.tar.gz')).toBeUndefined()
    expect(archiveTime('notes.txt')).toBeUndefined()
  })

  it('keeps the configured number of days, the newest archive, and anything that is not an archive', async () => {
    const now = new Date('2026-12-15T02:00:00.000Z')
    const names = [0, 1, 13, 14, 15, 30].map((days) => archiveName(new Date(now.getTime() - days * DAY + (days === 14 ? 1 : 0))))
    for (const name of [...names, 'notes.txt', 'cabinet-backup-old.tar.gz']) await writeFile(join(dir, name), 'x')
    const removed = await pruneArchives(dir, { now, retentionMs: 14 * DAY, keep: names[0]! })
    expect(removed.sort()).toEqual([names[4], names[5]].sort())
    expect((await readdir(dir)).sort()).toEqual([...names.slice(0, 4), 'notes.txt', 'cabinet-backup-old.tar.gz'].sort())
  })

  it('never removes the archive it was told to keep, however old', async () => {
    const old = archiveName(new Date(Date.now() - 100 * DAY))
    await writeFile(join(dir, old), 'x')
    expect(await pruneArchives(dir, { now: new Date(), retentionMs: DAY, keep: old })).toEqual([])
  })
})
