import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { BlobNotFoundError, BlobStorageFullError, type BlobStore, type ByteRange } from '../../blob/blob-store.js'
import { blobKeyForFileId } from '../../blob/secure-path.js'
import { QuotaExceededError, type ListCursor, type MetadataStore, type QuotaLimits, type StoredFile } from '../../db/metadata-store.js'
import type { EnqueueOptions } from '../../jobs/job-queue.js'
import { AppError, clientErrorOf, ERRORS } from '../../errors.js'
import { pipe } from '../../pipe.js'
import { cleanFileName } from './file-name.js'
import { extensionOf, FILE_TYPES, kindOfExtension, kindsForTypeFilter, type FileTypeInfo } from './file-types.js'
import { declaresContentType, readOfficeContentTypes } from './office-container.js'
import { UploadInspector } from './upload-inspector.js'

const FILE_ID = /^[0-9a-f]{32}$/

/**
 * How old an unfinished upload (its pending row, its temp file) must be before recovery and verify
 * take it for debris: its timeout, which the server enforces to the millisecond, plus a grace of a
 * minute (or of the timeout, if shorter) for a stalled process or clocks that differ between instances.
 */
export function abandonedAfterMs(uploadTimeoutMs: number): number {
  return uploadTimeoutMs + Math.min(uploadTimeoutMs, 60_000)
}

/**
 * Downloads up to this size are read in one go and sent in one write rather than streamed (see
 * BlobStore.readBuffer): for 1 MiB files it took a quarter less server CPU per download in the bench,
 * for at most this much memory per download in flight.
 */
const SMALL_READ_BYTES = 1024 * 1024
/** Long enough to start a download after the redirect, short enough that a leaked URL soon dies. */
const DIRECT_DOWNLOAD_TTL_SECONDS = 300

export interface FileServiceOptions {
  readonly maxFileBytes: number
  readonly allowedExtensions: readonly string[]
  readonly minFreeBytes: number
  /** An upload still running this long after it began is ended (408); recovery waits a grace period more (abandonedAfterMs). */
  readonly uploadTimeoutMs: number
  /** Send downloads straight from the blob store by presigned URL, where the store can presign. */
  readonly redirectDownloads?: boolean
  /** Default per-user limits (undefined: none); a user's own limits in the database win. */
  readonly quota?: { readonly maxBytes: number | undefined; readonly maxFiles: number | undefined }
  /** Told about stored uploads and started downloads, for the counters in /metrics and the stats. */
  readonly transfers?: TransferObserver
  /** Work tied to each file's life: extraction queued with its upload. */
  readonly lifecycle?: FileLifecycle
}

/** Counts transfers; called on the hot path, so it must be cheap (in-memory) and never throw. */
export interface TransferObserver {
  uploaded(bytes: number): void
  /** A download's bytes, counted when it starts (or is redirected to the blob store). */
  downloaded(bytes: number): void
}

/** What other services need to hear of a file's upload: extraction is queued with it. */
export interface FileLifecycle {
  /** The job to queue in the same transaction that makes an upload visible. */
  extractionJob(fileId: string): EnqueueOptions
  /** Called once an upload is visible, e.g. to wake this instance's job runner. */
  uploaded(file: StoredFile): void
}

export interface UploadRequest {
  readonly userId: string
  /** The client's file name; cleaned before use and never used as a path. */
  readonly fileName: string | undefined
  readonly body: Readable
}

export interface FilePage {
  readonly files: StoredFile[]
  readonly nextCursor: string | undefined
}

/** Uploading, reading, listing and deleting a user's files, on any BlobStore and MetadataStore. */
export class FileService {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly options: FileServiceOptions,
    private readonly logger: Logger,
  ) {
    this.quota = {
      maxBytes: options.quota?.maxBytes ?? Number.MAX_SAFE_INTEGER,
      maxFiles: options.quota?.maxFiles ?? Number.MAX_SAFE_INTEGER,
    }
  }

  private readonly quota: QuotaLimits

  /**
   * Rejects an upload that cannot fit before a byte of it is read: too big by its
   * declared length (plus `overheadBytes` of form framing), over the user's quota even
   * at the smallest size that length allows, or a nearly full disk.
   */
  async checkUploadAdmissible(declaredBytes: number | undefined, overheadBytes: number, userId?: string): Promise<void> {
    if (declaredBytes !== undefined && declaredBytes > this.options.maxFileBytes + overheadBytes) {
      throw ERRORS.fileTooLarge(this.options.maxFileBytes)
    }
    if (userId !== undefined) await this.checkQuotaRoom(userId, Math.max(1, (declaredBytes ?? 0) - overheadBytes))
    const available = await this.blobs.availableBytes()
    const incoming = Math.min(declaredBytes ?? this.options.maxFileBytes, this.options.maxFileBytes + overheadBytes)
    if (available !== undefined && available - incoming < this.options.minFreeBytes) {
      this.logger.warn({ availableBytes: available, minFreeBytes: this.options.minFreeBytes }, 'refusing upload: storage nearly full')
      throw ERRORS.insufficientStorage()
    }
  }

  async upload(request: UploadRequest): Promise<StoredFile> {
    const originalName = cleanFileName(request.fileName)
    const type = this.allowedTypeFor(originalName)

    const id = randomBytes(16).toString('hex')
    const blobKey = blobKeyForFileId(id)
    const createdAt = new Date()
    await this.metadata.files.insertPending({
      id,
      userId: request.userId,
      originalName,
      kind: type.kind,
      mimeType: type.mimeType,
      blobKey,
      createdAt,
    })
    // The row must outlive a crash before the blob appears, or the crash could orphan the blob;
    // the sync runs while the bytes arrive.
    const pendingDurable = this.metadata.syncCommitted()
    pendingDurable.catch(() => {})
    // The upload ends at its deadline, whether its bytes are still arriving or being stored:
    // recovery takes pending rows as abandoned only a grace period later (abandonedAfterMs), so it
    // never removes an upload still running, and nothing is published after the deadline.
    const { uploadTimeoutMs } = this.options
    const deadlineMs = createdAt.getTime() + uploadTimeoutMs
    const overdue = new AbortController()
    const endOverdue = () => {
      const reason = ERRORS.uploadTimedOut(uploadTimeoutMs)
      overdue.abort(reason)
      if (!request.body.readableEnded) request.body.destroy(reason)
    }
    const deadline = setTimeout(endOverdue, deadlineMs - Date.now())
    const publishInTime = async () => {
      await pendingDurable
      // A busy event loop may not have run the timer yet.
      if (Date.now() >= deadlineMs) endOverdue()
    }
    try {
      const inspector = new UploadInspector(type, this.options.maxFileBytes)
      // Whether the client's side failed before the store stopped reading. Registered before the pipe's
      // own listener, so it sees the inspector as the store left it, not as the pipe's failure leaves it.
      let clientFailedFirst = false
      request.body.once('error', () => (clientFailedFirst ||= !inspector.destroyed))
      // The store reads the inspector's output; either side failing destroys the other.
      const [received, written] = await Promise.allSettled([
        pipe(request.body, inspector),
        this.blobs.put(blobKey, inspector, { contentType: type.mimeType, beforePublish: publishInTime, signal: overdue.signal }),
      ])
      // The deadline, then storage running out, explain a failed upload best; else the side that failed
      // first: the client's (truncation) or the inspector's (size, type), or the store's (it stopped reading).
      if ((received.status === 'rejected' || written.status === 'rejected') && overdue.signal.aborted) throw overdue.signal.reason
      if (written.status === 'rejected' && written.reason instanceof BlobStorageFullError) throw written.reason
      if (received.status === 'rejected' && (written.status === 'fulfilled' || clientFailedFirst || received.reason instanceof AppError)) {
        throw receivingError(received.reason)
      }
      if (written.status === 'rejected') throw written.reason
      const { sizeBytes, sha256 } = inspector.result()
      if ('zip' in type.signature) await this.assertOfficeDocument(blobKey, sizeBytes, type)
      const lifecycle = this.options.lifecycle
      const ready = await this.metadata.files.markReady(
        id,
        { sizeBytes, sha256, uploadedAt: new Date() },
        { quota: this.quota, ...(lifecycle ? { extractionJob: lifecycle.extractionJob(id) } : {}) },
      )
      await this.metadata.syncCommitted()
      this.options.transfers?.uploaded(sizeBytes)
      lifecycle?.uploaded(ready)
      return ready
    } catch (error) {
      await this.discard(id, blobKey)
      throw this.translateUploadError(error)
    } finally {
      clearTimeout(deadline)
    }
  }

  /** The user's ready file; another user's file and a malformed id answer exactly like a missing one. */
  async getForUser(id: string, userId: string): Promise<StoredFile> {
    const file = FILE_ID.test(id) ? await this.metadata.files.findReady(id) : undefined
    if (!file || file.userId !== userId) throw ERRORS.fileNotFound()
    return file
  }

  /** A ready file by id alone, for requests already authorised by a signed URL. */
  async getById(id: string): Promise<StoredFile> {
    const file = FILE_ID.test(id) ? await this.metadata.files.findReady(id) : undefined
    if (!file) throw ERRORS.fileNotFound()
    return file
  }

  /** The file's bytes (or a range of them): in one Buffer when small, else a stream. */
  async openContent(file: StoredFile, range?: ByteRange): Promise<Readable | Buffer> {
    try {
      const bytes = range ? range.end - range.start + 1 : file.sizeBytes
      const content =
        bytes <= SMALL_READ_BYTES
          ? await this.blobs.readBuffer(file.blobKey, range ?? { start: 0, end: file.sizeBytes - 1 })
          : await this.blobs.get(file.blobKey, range ? { range } : {})
      this.options.transfers?.downloaded(bytes)
      return content
    } catch (error) {
      if (error instanceof BlobNotFoundError) {
        this.logger.error({ fileId: file.id, blobKey: file.blobKey }, 'metadata row has no blob')
        throw ERRORS.fileNotFound()
      }
      throw error
    }
  }

  /**
   * A short-lived URL that serves the file straight from the blob store, when downloads
   * are configured to redirect and the store can presign; otherwise undefined.
   */
  async directDownloadUrl(file: StoredFile, response: { contentDisposition: string }): Promise<string | undefined> {
    if (!this.options.redirectDownloads || !this.blobs.capabilities.has('presign') || !this.blobs.presignGet) return undefined
    const url = await this.blobs.presignGet(file.blobKey, {
      expiresInSeconds: DIRECT_DOWNLOAD_TTL_SECONDS,
      contentDisposition: response.contentDisposition,
      contentType: file.mimeType,
    })
    this.options.transfers?.downloaded(file.sizeBytes)
    return url
  }

  async list(
    userId: string,
    query: { limit: number; cursor?: string; type?: string; grantedTo?: { keyId: string; at: Date }; allUsers?: boolean },
  ): Promise<FilePage> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
    const kinds = kindsForTypeFilter(query.type)
    const files = await this.metadata.files.listReady(userId, {
      limit: query.limit + 1,
      ...(after ? { after } : {}),
      ...(kinds ? { kinds } : {}),
      ...(query.grantedTo ? { grantedTo: query.grantedTo } : {}),
      ...(query.allUsers ? { allUsers: true } : {}),
    })
    const page = files.slice(0, query.limit)
    const last = page.at(-1)
    return { files: page, nextCursor: files.length > query.limit && last ? encodeCursor(last) : undefined }
  }

  /** Hides the file at once, then removes its blob and row; a crash in between is finished by `recoverInterrupted`. */
  async delete(id: string, userId: string): Promise<void> {
    const file = FILE_ID.test(id) ? await this.metadata.files.markDeleting(id, userId) : undefined
    if (!file) throw ERRORS.fileNotFound()
    await this.purge(file)
  }

  /** Pins (never expires) or unpins the user's file; another user's file answers like a missing one. */
  async setPinned(id: string, userId: string, pinned: boolean): Promise<StoredFile> {
    const file = FILE_ID.test(id) ? await this.metadata.files.setPinned(id, userId, pinned) : undefined
    if (!file) throw ERRORS.fileNotFound()
    return file
  }

  /**
   * Removes a file already hidden (status `deleting`): every blob it owns (its bytes, then its
   * derived blobs), then its row. Delete, retention clean-up and crash recovery all end here.
   */
  async purge(file: { readonly id: string; readonly blobKey: string }): Promise<void> {
    // Hidden for good before its bytes go, so a crash cannot bring back a row without a blob.
    await this.metadata.syncCommitted()
    await this.removeBlobsAndRow(file)
    await this.metadata.syncCommitted()
  }

  /** Every blob the file owns, then its row. */
  private async removeBlobsAndRow(file: { readonly id: string; readonly blobKey: string }): Promise<void> {
    for (const key of await this.metadata.blobReferences.ownedBy(file)) await this.blobs.delete(key)
    await this.metadata.files.remove(file.id)
  }

  /** Finishes work a crash interrupted: abandoned uploads and half-done deletes lose their blob and row. */
  async recoverInterrupted(): Promise<number> {
    let recovered = 0
    for (;;) {
      const abandoned = await this.metadata.files.findAbandoned({
        pendingCreatedBefore: new Date(Date.now() - abandonedAfterMs(this.options.uploadTimeoutMs)),
        limit: 500,
      })
      for (const file of abandoned) await this.discard(file.id, file.blobKey)
      recovered += abandoned.length
      if (abandoned.length < 500) return recovered
    }
  }

  /** Refuses before reading when even `minimumBytes` more, or one more file, would pass the user's limits. */
  private async checkQuotaRoom(userId: string, minimumBytes: number): Promise<void> {
    const usage = await this.metadata.users.usage(userId)
    const limits = { maxBytes: usage.maxBytes ?? this.quota.maxBytes, maxFiles: usage.maxFiles ?? this.quota.maxFiles }
    if (usage.usedFiles + 1 > limits.maxFiles || usage.usedBytes + minimumBytes > limits.maxBytes) {
      throw quotaError(new QuotaExceededError(usage, limits, minimumBytes), 'at least ')
    }
  }

  private allowedTypeFor(fileName: string): FileTypeInfo {
    const extension = extensionOf(fileName)
    const kind = kindOfExtension(extension)
    if (!extension || !kind || !this.options.allowedExtensions.includes(extension)) {
      const detail = extension ? `Files of type .${extension} are not accepted` : 'The file name has no extension'
      throw ERRORS.fileTypeNotAllowed(detail, this.options.allowedExtensions)
    }
    return FILE_TYPES[kind]
  }

  private async assertOfficeDocument(blobKey: string, sizeBytes: number, type: FileTypeInfo): Promise<void> {
    if (!('zip' in type.signature)) return
    const contentTypes = await readOfficeContentTypes(
      (start, end) => this.blobs.get(blobKey, { range: { start, end: Math.max(start, end - 1) } }),
      sizeBytes,
    )
    if (contentTypes === undefined) throw ERRORS.fileTypeMismatch(type.kind, 'a ZIP archive that is not an Office document')
    if (!declaresContentType(contentTypes, type.signature.zip.contentType)) {
      throw ERRORS.fileTypeMismatch(type.kind, 'an Office document of another kind')
    }
  }

  private async discard(id: string, blobKey: string): Promise<void> {
    try {
      await this.removeBlobsAndRow({ id, blobKey })
    } catch (error) {
      // Left for the next recovery pass, which retries abandoned rows.
      this.logger.error({ err: error, fileId: id }, 'could not discard an unfinished file')
    }
  }

  private translateUploadError(error: unknown): Error {
    if (error instanceof QuotaExceededError) return quotaError(error)
    if (error instanceof BlobStorageFullError) return ERRORS.insufficientStorage()
    return clientErrorOf(error) ?? (error instanceof Error ? error : ERRORS.internal(error))
  }
}

/** The receiving side's failure: Cabinet's own refusals as they are; the multipart parser's or the socket's, a cut-off upload. */
function receivingError(error: unknown): unknown {
  if (error instanceof AppError) return error
  const message = error instanceof Error ? error.message : ''
  if (/terminated early|Unexpected end|aborted|premature close/i.test(message) || (error as NodeJS.ErrnoException).code === 'ECONNRESET') {
    return ERRORS.truncatedUpload(error)
  }
  return error
}

/** QUOTA_EXCEEDED with the numbers: what the user has, what they may have, and what this upload needed. */
function quotaError(error: QuotaExceededError, sizePrefix = ''): AppError {
  const { usage, limits, incomingBytes } = error
  const unlimited = (n: number) => (n >= Number.MAX_SAFE_INTEGER ? 'unlimited' : String(n))
  if (usage.usedFiles + 1 > limits.maxFiles) {
    return ERRORS.quotaExceeded(`File quota exceeded: you have ${usage.usedFiles} of ${unlimited(limits.maxFiles)} files; delete some to upload more`)
  }
  return ERRORS.quotaExceeded(
    `Storage quota exceeded: this upload of ${sizePrefix}${incomingBytes} bytes would bring you to ${usage.usedBytes + incomingBytes} of ${unlimited(limits.maxBytes)} bytes (you use ${usage.usedBytes})`,
  )
}

function encodeCursor(file: StoredFile): string {
  return Buffer.from(`${file.uploadedAt.getTime()}.${file.id}`).toString('base64url')
}

function decodeCursor(cursor: string): ListCursor {
  const match = /^(\d{1,15})\.([0-9a-f]{32})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (!match) throw ERRORS.badRequest('Invalid cursor: pass the next_cursor value of the previous page')
  return { uploadedAtMs: Number(match[1]), id: match[2]! }
}
