import { createReadStream, createWriteStream } from 'node:fs'
import { chmod, mkdir, open, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { constants as zlibConstants, createGzip } from 'node:zlib'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import tar from 'tar-stream'
import { BlobNotFoundError, type BlobStore } from '../../blob/blob-store.js'
import type { BlobReference, MetadataStore } from '../../db/metadata-store.js'
import type { OnProgress } from '../progress.js'
import {
  ARCHIVE_FORMAT,
  blobEntryPath,
  HEADER_ENTRY,
  jsonEntry,
  MANIFEST_ENTRY,
  METADATA_ENTRY,
  readArchive,
  writeEntry,
  type ArchiveHeader,
  type ArchiveManifest,
  type ManifestEntry,
} from './archive.js'
import { archiveName, pruneArchives } from './backup-retention.js'

/** What one backup wrote. */
export interface BackupReport {
  readonly archive: string
  readonly createdAt: string
  readonly metadata: 'sqlite' | 'pg_dump'
  readonly files: number
  readonly blobBytes: number
  readonly archiveBytes: number
  /** Files deleted by their owners while the backup ran; restore drops their rows. */
  readonly removedDuringBackup: number
  /** Archives past the retention removed after this one was safely written. */
  readonly pruned: readonly string[]
}

export interface BackupOptions {
  /** A local folder; created 0750 when missing. */
  readonly dir: string
  readonly retentionMs: number
  readonly now?: Date
  readonly onProgress?: OnProgress
  readonly signal?: AbortSignal
}

/** Room kept free beside the archive being written, on top of its estimated size. */
const FREE_MARGIN_BYTES = 64 * 1024 * 1024

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * `cabinet backup`: one consistent snapshot of the whole metadata database plus every blob that
 * snapshot references, in one `.tar.gz` whose last entry (the manifest) lists every entry's size
 * and SHA-256. Written beside its final name and renamed only when complete and fsynced.
 */
export class BackupService {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly logger: Logger,
  ) {}

  async create(options: BackupOptions): Promise<BackupReport> {
    const now = options.now ?? new Date()
    await mkdir(options.dir, { recursive: true, mode: 0o750 })
    await this.removeLeftovers(options.dir)
    const name = archiveName(now)
    const finalPath = join(options.dir, name)
    const partPath = `${finalPath}.part`
    const workDir = join(options.dir, `.work-${randomBytes(6).toString('hex')}`)
    await mkdir(workDir, { mode: 0o750 })
    try {
      const snapshot = await this.metadata.snapshot(join(workDir, 'metadata'))
      const references = snapshot.blobReferences.filter((reference) => reference.fileStatus === 'ready')
      const blobBytes = references.reduce((sum, reference) => sum + (reference.sizeBytes ?? 0), 0)
      const snapshotBytes = (await stat(snapshot.path)).size
      await this.assertRoom(options.dir, blobBytes + snapshotBytes)

      const pack = tar.pack()
      const output = createWriteStream(partPath, { flags: 'wx', mode: 0o640, flush: true })
      // Images and PDFs are compressed already: the fastest level costs little and gains as much.
      const writing = pipeline(pack, createGzip({ level: zlibConstants.Z_BEST_SPEED }), output)
      writing.catch(() => {})
      const entries: ManifestEntry[] = []
      const removedDuringBackup: string[] = []
      let copiedBytes = 0
      try {
        const header: ArchiveHeader = { format: ARCHIVE_FORMAT, createdAt: now.toISOString(), metadata: snapshot.format }
        const headerBytes = jsonEntry(header)
        entries.push(await writeEntry(pack, HEADER_ENTRY, headerBytes.length, [headerBytes], now))
        entries.push(await writeEntry(pack, METADATA_ENTRY[snapshot.format], snapshotBytes, createReadStream(snapshot.path), now))
        for (const reference of references) {
          options.signal?.throwIfAborted()
          const entry = await this.copyBlob(pack, reference, now)
          if (entry) entries.push(entry)
          else removedDuringBackup.push(reference.fileId)
          copiedBytes += reference.sizeBytes ?? 0
          options.onProgress?.({ phase: 'copying blobs', done: copiedBytes, total: blobBytes, unit: 'bytes' })
        }
        const manifest: ArchiveManifest = { ...header, entries, files: entries.length - 2, removedDuringBackup }
        const manifestBytes = jsonEntry(manifest)
        await writeEntry(pack, MANIFEST_ENTRY, manifestBytes.length, [manifestBytes], now)
        pack.finalize()
        await writing
      } catch (error) {
        pack.destroy(error as Error)
        await writing.catch(() => {})
        throw error
      }
      await chmod(partPath, 0o640)
      await rename(partPath, finalPath)
      await syncDir(options.dir)
      const pruned = await pruneArchives(options.dir, { now, retentionMs: options.retentionMs, keep: name })
      const report: BackupReport = {
        archive: finalPath,
        createdAt: now.toISOString(),
        metadata: snapshot.format,
        files: entries.length - 2,
        blobBytes,
        archiveBytes: (await stat(finalPath)).size,
        removedDuringBackup: removedDuringBackup.length,
        pruned,
      }
      this.logger.info({ job: 'backup', ...report }, 'backup written')
      return report
    } catch (error) {
      await unlink(partPath).catch(() => {})
      throw error
    } finally {
      await rm(workDir, { recursive: true, force: true })
    }
  }

  /**
   * Streams one referenced blob into the archive, checked against its record. Undefined when the
   * blob is gone because its file was deleted after the snapshot; a blob missing or different
   * while its file is still there is an inconsistency that fails the backup (run cabinet verify).
   */
  private async copyBlob(pack: tar.Pack, reference: BlobReference, now: Date): Promise<ManifestEntry | undefined> {
    let content
    try {
      content = await this.blobs.get(reference.key)
    } catch (error) {
      if (!(error instanceof BlobNotFoundError)) throw error
      if (!(await this.metadata.blobReferences.referenced([reference.key])).has(reference.key)) return undefined
      throw new Error(`blob ${reference.key} of file ${reference.fileId} is missing; run cabinet verify`, { cause: error })
    }
    const sizeBytes = reference.sizeBytes ?? (await this.blobs.head(reference.key))?.sizeBytes ?? 0
    const entry = await writeEntry(pack, blobEntryPath(reference.key), sizeBytes, content, now)
    if (reference.sha256 !== undefined && entry.sha256 !== reference.sha256) {
      throw new Error(`blob ${reference.key} of file ${reference.fileId} does not match its SHA-256; run cabinet verify`)
    }
    return entry
  }

  /** What a backup killed mid-way left (runs are exclusive, so none is in progress now). */
  private async removeLeftovers(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      if (name.startsWith('.work-') || /^cabinet-backup-\w+\.tar\.gz\.part$/.test(name)) await rm(join(dir, name), { recursive: true, force: true })
    }
  }

  private async assertRoom(dir: string, estimatedBytes: number): Promise<void> {
    const fs = await statfs(dir)
    const free = fs.bavail * fs.bsize
    if (free < estimatedBytes + FREE_MARGIN_BYTES) {
      throw new Error(`not enough room in ${dir} for a backup of about ${estimatedBytes} bytes (${free} bytes free)`)
    }
  }
}

/** `cabinet backup verify`: reads the whole archive and checks every entry against its manifest, restoring nothing. */
export async function verifyArchive(path: string, onProgress?: OnProgress): Promise<ArchiveManifest> {
  const total = (await stat(path)).size
  const { manifest } = await readArchive(
    path,
    async () => {},
    (done) => onProgress?.({ phase: 'checking archive', done, total, unit: 'bytes' }),
  )
  return manifest
}
