import { createWriteStream } from 'node:fs'
import { stat, unlink } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../../blob/blob-store.js'
import type { MetadataStore } from '../../db/metadata-store.js'
import type { FileService } from '../files/file-service.js'
import type { OnProgress } from '../progress.js'
import { METADATA_ENTRY, readArchive, type ArchiveManifest } from './archive.js'

/** An empty storage to restore into. */
export interface RestoreTarget {
  /** An empty blob store: the archive's blobs are written here, each checked as it streams. */
  readonly blobs: BlobStore
  /** The metadata format this target takes: SQLite file or PostgreSQL database. */
  readonly metadataFormat: 'sqlite' | 'pg_dump'
  /** A local file to hold the metadata snapshot until the whole archive has checked out. */
  readonly stagingPath: string
  /** Makes the staged, checked snapshot the target's database. */
  install(stagedPath: string): Promise<void>
}

export interface RestoreResult {
  readonly manifest: ArchiveManifest
  readonly blobs: number
  readonly bytes: number
}

/**
 * Restores an archive into an empty target, verifying every entry's SHA-256 against the manifest.
 * The metadata is installed only once every check passed; on any failure, whatever was written
 * (blobs, staged snapshot) is removed again, so the target is left empty.
 */
export async function restoreArchive(path: string, target: RestoreTarget, onProgress?: OnProgress): Promise<RestoreResult> {
  const total = (await stat(path)).size
  const written: string[] = []
  let bytes = 0
  try {
    const { manifest } = await readArchive(
      path,
      async (entry) => {
        if (entry.kind.kind === 'metadata') {
          if (entry.path !== METADATA_ENTRY[target.metadataFormat]) {
            const other = target.metadataFormat === 'sqlite' ? 'a PostgreSQL dump (restore it with CABINET_DATABASE_URL set)' : 'a SQLite database (restore it with --to DIR)'
            throw new Error(`this archive holds ${other}`)
          }
          await pipeline(entry.content, createWriteStream(target.stagingPath, { flags: 'wx', mode: 0o640, flush: true }))
        } else if (entry.kind.kind === 'blob') {
          written.push(entry.kind.key)
          await target.blobs.put(entry.kind.key, entry.content)
          bytes += entry.sizeBytes
        }
      },
      (done) => onProgress?.({ phase: 'restoring', done, total, unit: 'bytes' }),
    )
    await target.install(target.stagingPath)
    return { manifest, blobs: written.length, bytes }
  } catch (error) {
    for (const key of written) await target.blobs.delete(key).catch(() => {})
    throw error
  } finally {
    await unlink(target.stagingPath).catch(() => {})
  }
}

/**
 * Brings restored metadata to a state `cabinet verify` finds clean: drops the rows of files deleted
 * while the backup ran (their blobs are not in it), finishes uploads and deletes the snapshot caught
 * half-way (no blobs either), and marks runs the snapshot caught running as interrupted.
 */
export async function settleRestoredMetadata(metadata: MetadataStore, files: FileService, manifest: ArchiveManifest): Promise<void> {
  for (const id of manifest.removedDuringBackup) {
    const file = await metadata.files.findReady(id)
    const hidden = file && (await metadata.files.markDeleting(id, file.userId))
    if (hidden) await files.purge(hidden)
  }
  await files.recoverInterrupted()
  for (const job of ['backup', 'cleanup']) await metadata.jobRuns.markInterrupted(job, '', new Date())
}
