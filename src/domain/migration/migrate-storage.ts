import { createHash } from 'node:crypto'
import { PassThrough, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../../blob/blob-store.js'
import type { MetadataStore, StoredFile } from '../../db/metadata-store.js'

export interface Storage {
  readonly metadata: MetadataStore
  readonly blobs: BlobStore
}

export interface MigrationReport {
  copiedFiles: number
  copiedBytes: number
  /** Already at the target with the same SHA-256: a resumed run skips them. */
  skippedFiles: number
  copiedTokens: number
  /** API keys the target lacked. */
  copiedKeys: number
  failures: Array<{ fileId: string; reason: string }>
}

/** Settings that must travel so that links and sign-ins keep working after the move. */
const CARRIED_SETTINGS = ['url_secret']
const PAGE = 200

/**
 * Copies every ready file (bytes and metadata), every token and API key, users' own quotas
 * and WeChat links, and the shared settings from one storage to another (grants, being
 * short-lived, and the audit log stay behind). Each blob is verified against its recorded SHA-256 while it
 * streams; a row is written only after its blob is safely stored, so an interrupted run
 * can simply be run again and picks up where it stopped.
 */
export async function migrateStorage(
  from: Storage,
  to: Storage,
  onFile: (file: StoredFile, outcome: 'copied' | 'skipped' | 'failed') => void = () => {},
): Promise<MigrationReport> {
  const report: MigrationReport = { copiedFiles: 0, copiedBytes: 0, skippedFiles: 0, copiedTokens: 0, copiedKeys: 0, failures: [] }

  for (const key of CARRIED_SETTINGS) {
    const value = await from.metadata.settings.getOrCreate(key, () => '')
    if (value !== '') await to.metadata.settings.getOrCreate(key, () => value)
  }
  for (const token of await from.metadata.tokens.list()) {
    if (await to.metadata.tokens.findById(token.id)) continue
    await to.metadata.tokens.insert(token)
    report.copiedTokens += 1
  }
  for (const key of await from.metadata.apiKeys.list()) {
    if (await to.metadata.apiKeys.findById(key.id)) continue
    await to.metadata.apiKeys.insert(key)
    report.copiedKeys += 1
  }
  // Users' own limits and WeChat links; usage follows from the files as importReady counts them.
  await to.metadata.users.importAll(await from.metadata.users.exportAll(), new Date())

  for (let afterId: string | undefined; ; ) {
    const page = await from.metadata.files.listAllReady({ limit: PAGE, ...(afterId ? { afterId } : {}) })
    for (const file of page) {
      try {
        if (await isAlreadyThere(to, file)) {
          report.skippedFiles += 1
          onFile(file, 'skipped')
          continue
        }
        await copyVerified(from.blobs, to.blobs, file)
        await to.metadata.files.importReady(file)
        report.copiedFiles += 1
        report.copiedBytes += file.sizeBytes
        onFile(file, 'copied')
      } catch (error) {
        report.failures.push({ fileId: file.id, reason: error instanceof Error ? error.message : String(error) })
        onFile(file, 'failed')
      }
    }
    if (page.length < PAGE) {
      // Whatever an earlier, interrupted run left, usage now matches the files exactly.
      await to.metadata.users.recountUsage(new Date())
      return report
    }
    afterId = page.at(-1)!.id
  }
}

async function isAlreadyThere(to: Storage, file: StoredFile): Promise<boolean> {
  const row = await to.metadata.files.findReady(file.id)
  if (!row || row.sha256 !== file.sha256) return false
  return (await to.blobs.head(file.blobKey))?.sizeBytes === file.sizeBytes
}

/** Streams one blob across, hashing on the way; a copy whose hash or size is off is removed and reported. */
async function copyVerified(from: BlobStore, to: BlobStore, file: StoredFile): Promise<void> {
  const hash = createHash('sha256')
  let sizeBytes = 0
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      sizeBytes += chunk.length
      callback(null, chunk)
    },
  })
  const body = new PassThrough()
  const [read, written] = await Promise.allSettled([
    pipeline(await from.get(file.blobKey), hashing, body),
    to.put(file.blobKey, body, { contentType: file.mimeType }),
  ])
  if (read.status === 'rejected') throw read.reason
  if (written.status === 'rejected') throw written.reason
  const sha256 = hash.digest('hex')
  if (sha256 !== file.sha256 || sizeBytes !== file.sizeBytes) {
    await to.delete(file.blobKey)
    throw new Error(`content does not match its record (sha256 ${sha256}, ${sizeBytes} bytes; recorded ${file.sha256}, ${file.sizeBytes} bytes)`)
  }
}
