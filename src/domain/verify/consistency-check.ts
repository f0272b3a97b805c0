import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import { BlobNotFoundError, type BlobStore } from '../../blob/blob-store.js'
import type { MetadataStore } from '../../db/metadata-store.js'
import { abandonedAfterMs, type FileService } from '../files/file-service.js'
import type { OnProgress } from '../progress.js'
import { Quarantine } from './quarantine.js'

export type ProblemKind = 'missing_blob' | 'orphan_blob' | 'size_mismatch' | 'sha256_mismatch' | 'wrong_mode' | 'temp_file' | 'interrupted'

/** One inconsistency, and what `--repair` did about it. */
export interface Problem {
  readonly kind: ProblemKind
  readonly detail: string
  readonly fileId?: string
  readonly key?: string
  readonly path?: string
  /** Set by --repair: what was done (`quarantined`, `mode fixed`, …) or why it failed. */
  repair?: string
}

export interface VerifyReport {
  /** True when nothing at all was found. */
  readonly clean: boolean
  readonly repaired: boolean
  readonly checked: { readonly files: number; readonly blobs: number; readonly bytesHashed: number }
  /** Which checks this backend allows (object storage has no file modes). */
  readonly checks: readonly string[]
  readonly problems: readonly Problem[]
  /** Where --repair put what it took out of service, when it did. */
  readonly quarantineDir?: string
}

export interface VerifyOptions {
  readonly repair: boolean
  /** Unfinished uploads and temp files younger than this are in flight, not debris. */
  readonly uploadTimeoutMs: number
  readonly quarantineRoot: string
  readonly onProgress?: OnProgress
}

const KEY_BATCH = 500

/**
 * `cabinet verify`: compares the metadata with the blobs. Every ready file's blob must exist with
 * its recorded size and SHA-256 (read in full); every blob must be referenced by some row (through
 * the blob-references port, so derived blobs count); modes must be Cabinet's on local disk; no
 * write a crash interrupted may linger. `repair` fixes what is safe to fix and quarantines, never
 * deletes, what it cannot vouch for.
 */
export class ConsistencyCheck {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly files: FileService,
    private readonly logger: Logger,
  ) {}

  async run(options: VerifyOptions): Promise<VerifyReport> {
    const problems: Problem[] = []
    const checked = { files: 0, blobs: 0, bytesHashed: 0 }
    const quarantine = new Quarantine(options.quarantineRoot, new Date())
    let quarantined = false
    const checks = ['rows have blobs', 'sizes', 'sha256', 'blobs have rows', 'interrupted work', 'temp files']
    if (this.blobs.findWrongModes) checks.push('modes')

    // 1. Every ready file's blob, read in full.
    const totals = await this.metadata.stats.totals()
    for await (const reference of this.metadata.blobReferences.list()) {
      if (reference.fileStatus !== 'ready') continue
      if (reference.role !== 'file') {
        // A derived blob (thumbnail) is checked once completely written; a broken one is only removed: it is made again on request.
        if (reference.sha256 === undefined) continue
        const found = await this.checkBlob(reference.key, reference.sizeBytes, reference.sha256)
        checked.bytesHashed += found.hashedBytes
        if (!found.problem) continue
        const problem: Problem = { kind: found.problem, detail: `${reference.role}: ${found.detail}`, fileId: reference.fileId, key: reference.key }
        problems.push(problem)
        if (options.repair) {
          problem.repair = await this.attempt(async () => {
            if (found.problem !== 'missing_blob') await quarantine.keepBlob(this.blobs, reference.key)
            quarantined = true
            await this.metadata.derivedBlobs.remove(reference.key)
            await this.blobs.delete(reference.key)
            return `${reference.role} removed; it is made again when next asked for`
          })
        }
        continue
      }
      checked.files += 1
      const found = await this.checkBlob(reference.key, reference.sizeBytes, reference.sha256)
      checked.bytesHashed += found.hashedBytes
      options.onProgress?.({ phase: 'checking files', done: checked.bytesHashed, total: totals.bytes, unit: 'bytes' })
      if (!found.problem) continue
      // A delete or clean-up may have removed the file while we read it: only a file still ready is a problem.
      const file = await this.metadata.files.findReady(reference.fileId)
      if (!file) continue
      const problem: Problem = { kind: found.problem, detail: found.detail, fileId: file.id, key: reference.key }
      problems.push(problem)
      if (options.repair) {
        problem.repair = await this.attempt(async () => {
          if (found.problem !== 'missing_blob') await quarantine.keepBlob(this.blobs, reference.key)
          await quarantine.keepRow(file.id, file)
          quarantined = true
          const hidden = await this.metadata.files.markDeleting(file.id, file.userId)
          if (hidden) await this.files.purge(hidden)
          return found.problem === 'missing_blob' ? 'row quarantined and removed (restore the file from a backup)' : 'blob and row quarantined'
        })
      }
    }

    // 2. Every blob must be referenced.
    let batch: string[] = []
    const flush = async () => {
      const referenced = await this.metadata.blobReferences.referenced(batch)
      for (const key of batch.filter((k) => !referenced.has(k))) {
        const problem: Problem = { kind: 'orphan_blob', detail: 'no row references this blob', key }
        problems.push(problem)
        if (options.repair) {
          problem.repair = await this.attempt(async () => {
            // An import (migrate-storage) writes the blob before its row: look again before moving it.
            if ((await this.metadata.blobReferences.referenced([key])).has(key)) return 'referenced by now; left alone'
            await quarantine.keepBlob(this.blobs, key)
            quarantined = true
            await this.blobs.delete(key)
            return 'quarantined'
          })
        }
      }
      batch = []
    }
    for await (const blob of this.blobs.list('')) {
      checked.blobs += 1
      batch.push(blob.key)
      if (batch.length >= KEY_BATCH) await flush()
      options.onProgress?.({ phase: 'checking blobs', done: checked.blobs, total: Math.max(totals.files, checked.blobs), unit: 'files' })
    }
    if (batch.length > 0) await flush()

    // 3. Modes (local disk), leftover writes, interrupted uploads and deletes.
    if (this.blobs.findWrongModes) {
      for await (const wrong of this.blobs.findWrongModes()) {
        const problem: Problem = {
          kind: 'wrong_mode',
          detail: `mode ${wrong.mode.toString(8)}, expected ${wrong.expectedMode.toString(8)}`,
          path: wrong.path,
        }
        problems.push(problem)
        if (options.repair) problem.repair = await this.attempt(async () => (await this.blobs.fixMode!(wrong.path), 'mode fixed'))
      }
    }
    const leftovers: Problem[] = []
    for await (const write of this.blobs.listAbandonedWrites?.(abandonedAfterMs(options.uploadTimeoutMs)) ?? []) {
      leftovers.push({ kind: 'temp_file', detail: `left by an interrupted write started ${write.startedAt.toISOString()}`, path: write.name })
    }
    if (options.repair && leftovers.length > 0) {
      const outcome = await this.attempt(async () => `removed (${await this.blobs.removeAbandonedWrites!(abandonedAfterMs(options.uploadTimeoutMs))} in all)`)
      for (const problem of leftovers) problem.repair = outcome
    }
    problems.push(...leftovers)
    const abandoned = await this.metadata.files.findAbandoned({ pendingCreatedBefore: new Date(Date.now() - abandonedAfterMs(options.uploadTimeoutMs)), limit: 1000 })
    const interrupted: Problem[] = abandoned.map((file) => ({
      kind: 'interrupted',
      detail: file.status === 'pending' ? 'an upload that never finished' : 'a delete that never finished',
      fileId: file.id,
      key: file.blobKey,
    }))
    if (options.repair && interrupted.length > 0) {
      const outcome = await this.attempt(async () => (await this.files.recoverInterrupted(), 'finished: blob and row removed'))
      for (const problem of interrupted) problem.repair = outcome
    }
    problems.push(...interrupted)

    const report: VerifyReport = {
      clean: problems.length === 0,
      repaired: options.repair,
      checked,
      checks,
      problems,
      ...(quarantined ? { quarantineDir: quarantine.dir } : {}),
    }
    this.logger.info({ job: 'verify', clean: report.clean, problems: problems.length, checked }, 'consistency check done')
    return report
  }

  /** Size and SHA-256 of one blob against its record, reading it in full. */
  private async checkBlob(
    key: string,
    sizeBytes: number | undefined,
    sha256: string | undefined,
  ): Promise<{ problem?: ProblemKind; detail: string; hashedBytes: number }> {
    const info = await this.blobs.head(key)
    if (!info) return { problem: 'missing_blob', detail: 'the row has no blob', hashedBytes: 0 }
    if (sizeBytes !== undefined && info.sizeBytes !== sizeBytes) {
      return { problem: 'size_mismatch', detail: `blob has ${info.sizeBytes} bytes, the row says ${sizeBytes}`, hashedBytes: 0 }
    }
    if (sha256 === undefined) return { detail: '', hashedBytes: 0 }
    const hash = createHash('sha256')
    let hashedBytes = 0
    try {
      for await (const chunk of await this.blobs.get(key)) {
        hash.update(chunk as Buffer)
        hashedBytes += (chunk as Buffer).length
      }
    } catch (error) {
      if (error instanceof BlobNotFoundError) return { problem: 'missing_blob', detail: 'the row has no blob', hashedBytes }
      throw error
    }
    const actual = hash.digest('hex')
    if (actual !== sha256) return { problem: 'sha256_mismatch', detail: `blob's SHA-256 is ${actual}, the row says ${sha256}`, hashedBytes }
    return { detail: '', hashedBytes }
  }

  private async attempt(action: () => Promise<string>): Promise<string> {
    try {
      return await action()
    } catch (error) {
      this.logger.warn({ err: error }, 'repair failed')
      return `repair failed: ${error instanceof Error ? error.message : String(error)}`
    }
  }
}
