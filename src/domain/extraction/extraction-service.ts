import { EventEmitter } from 'node:events'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { BlobNotFoundError, type BlobStore } from '../../blob/blob-store.js'
import type { ExtractionRecord, MetadataStore, StoredFile } from '../../db/metadata-store.js'
import type { EnqueueOptions, Job } from '../../jobs/job-queue.js'
import { PermanentJobError } from '../../jobs/job-runner.js'
import type { FileKind } from '../files/file-types.js'
import type { ExtractionPool } from './extraction-pool.js'
import type { ExtractionResult, ExtractionStatus, ImageFacts } from './extraction-types.js'
import { extractImageFacts, IMAGE_HEAD_BYTES } from './extractors/image-facts.js'
import { extractText } from './extractors/text.js'
import { ExtractionFailure, type ExtractionLimits } from './limits.js'
import { countWords } from './word-count.js'

/** The queue's job kind for extracting one file. */
export const EXTRACT_FILE = 'extract-file'

const IMAGE_KINDS: ReadonlySet<string> = new Set<FileKind>(['jpg', 'png', 'gif', 'webp'])
const TEXT_KINDS: ReadonlySet<string> = new Set<FileKind>(['txt', 'md', 'csv', 'json'])
const DOCUMENT_KINDS: ReadonlySet<string> = new Set<FileKind>(['pdf', 'docx', 'xlsx', 'doc'])
/** Attempts for errors that are not the file's fault (storage or database unreachable). */
const EXTRACT_ATTEMPTS = 3
/** How often `waitFor` looks again, for extractions finished by another instance. */
const WAIT_POLL_MS = 200
/** UTF-8 needs at most this many bytes per UTF-16 code unit, so reading this many per allowed character is enough. */
const TEXT_BYTES_PER_CHAR = 3

export interface ExtractionServiceOptions {
  readonly limits: ExtractionLimits
  /**
   * Documents (and images whose facts are not in their first bytes) larger than this are not
   * extracted, since extraction holds the whole file in memory: their extraction fails, saying so.
   */
  readonly maxFileBytes: number
}

/** A file's extracted text and facts, as `GET /api/files/:id/text` and the chat and MCP tools use them. */
export interface FileText {
  readonly fileId: string
  readonly kind: string
  /** `pending` until extracted; `failed` comes with `error`; `unsupported` for kinds Cabinet cannot read. */
  readonly status: ExtractionStatus
  readonly error: string | undefined
  /** PDFs: the text of each page read, numbered from 1. */
  readonly pages: ReadonlyArray<{ readonly number: number; readonly text: string }> | undefined
  /** Workbooks: each sheet as a Markdown table. */
  readonly sheets: ReadonlyArray<{ readonly name: string; readonly text: string }> | undefined
  /** All of the text (Markdown for DOCX and sheets; pages and sheets separated by a blank line). */
  readonly text: string
  readonly wordCount: number
  readonly charCount: number
  /** Pages in the PDF, including any past the page cap. */
  readonly pageCount: number | undefined
  readonly sheetCount: number | undefined
  /** True when some text was left out by a cap. */
  readonly truncated: boolean
  /** Images: format, pixel size, EXIF orientation, capture time, GPS present. */
  readonly image: ImageFacts | undefined
}

/**
 * Turns stored files into text and facts an agent can use. Every upload queues an extract-file
 * job (in the transaction that makes it visible); any instance's JobRunner runs it through
 * `handleJob`. Images and text are read on the main thread from their first bytes; PDF, DOCX,
 * XLSX and DOC are parsed in worker threads under time, heap, page and decompression limits.
 *
 * `textOf` and `waitFor` do not check ownership: resolve the file for its user first
 * (FileService.getForUser) or through a grant.
 */
export class ExtractionService {
  private readonly finished = new EventEmitter().setMaxListeners(0)

  constructor(
    private readonly metadata: MetadataStore,
    private readonly blobs: BlobStore,
    private readonly pool: ExtractionPool,
    private readonly options: ExtractionServiceOptions,
    private readonly logger: Logger,
  ) {}

  /** The job that extracts `fileId`, for FileService to queue with the upload. */
  jobFor(fileId: string): EnqueueOptions {
    return { kind: EXTRACT_FILE, payload: { fileId }, dedupeKey: `${EXTRACT_FILE}:${fileId}`, maxAttempts: EXTRACT_ATTEMPTS }
  }

  /**
   * The file's extraction now; `pending` while its job waits or runs (and for a file uploaded
   * before extraction existed, until the catch-up pass queues it). Undefined when the file is gone.
   */
  async textOf(fileId: string): Promise<FileText | undefined> {
    const file = await this.metadata.files.findReady(fileId)
    if (!file) return undefined
    const record = await this.metadata.extractions.find(fileId)
    return toFileText(file, record)
  }

  /**
   * Waits up to `timeoutMs` for the file's extraction to finish (done, failed or unsupported),
   * then answers as `textOf` does: still `pending` if the time ran out. Ends early, pending, when
   * `signal` aborts.
   */
  async waitFor(fileId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<FileText | undefined> {
    const deadline = Date.now() + options.timeoutMs
    for (;;) {
      const text = await this.textOf(fileId)
      if (!text || text.status !== 'pending' || Date.now() >= deadline || options.signal?.aborted) return text
      await this.nextChance(fileId, Math.min(WAIT_POLL_MS, deadline - Date.now()), options.signal)
    }
  }

  /** The extract-file job handler. */
  async handleJob(job: Job, signal?: AbortSignal): Promise<void> {
    const payload = job.payload as { fileId?: unknown }
    if (typeof payload?.fileId !== 'string') throw new PermanentJobError('extract-file job without a fileId')
    const fileId = payload.fileId
    const file = await this.metadata.files.findReady(fileId)
    if (!file) return // deleted since: nothing to extract
    try {
      const extracted = await this.extract(file, signal)
      // Composed (NFC), like names, so that search matches however a word's accents were encoded.
      const result = { ...extracted, parts: extracted.parts.map((part) => ({ ...part, text: part.text.normalize('NFC') })) }
      const text = result.parts.map((part) => part.text).join(' ')
      const status = result.layout === 'none' && !result.facts.image ? 'unsupported' : 'done'
      // Completing the job with the result saves a commit per file; the runner's own completion then finds it done.
      const completeJob = job.lockedBy === undefined ? undefined : { id: job.id, workerId: job.lockedBy }
      await this.metadata.extractions.saveResult(fileId, { ...result, status, wordCount: countWords(text) }, completeJob && { completeJob })
    } catch (error) {
      if (error instanceof BlobNotFoundError) {
        if (!(await this.metadata.files.findReady(fileId))) return // deleted meanwhile: hidden before its bytes went
        // Lost from storage: no retry brings the bytes back, so the extraction fails now, saying why.
        this.logger.error({ fileId, blobKey: file.blobKey }, 'metadata row has no blob')
        const reason = "The file's stored bytes are missing; `cabinet verify` lists such files"
        await this.metadata.extractions.saveFailure(fileId, reason)
        throw new PermanentJobError(reason, { cause: error })
      }
      if (error instanceof ExtractionFailure) {
        await this.metadata.extractions.saveFailure(fileId, error.message)
        throw new PermanentJobError(error.message, { cause: error })
      }
      if (job.attempts >= job.maxAttempts) {
        await this.metadata.extractions.saveFailure(fileId, `Extraction failed: ${(error as Error).message}`).catch(() => false)
      }
      throw error
    } finally {
      this.finished.emit(fileId)
    }
  }

  /**
   * Catch-up pass: queues extraction for ready files that never had one (uploaded before this
   * version, or imported by migrate-storage), and fails rows whose job died for good. Returns how many rows it touched.
   */
  async catchUp(limit = 500): Promise<number> {
    const queued = await this.metadata.extractions.queueMissing({ limit, job: (fileId) => this.jobFor(fileId) })
    const failed = await this.metadata.extractions.failOrphaned({ limit })
    if (queued > 0 || failed > 0) this.logger.info({ queued, failed }, 'extraction catch-up')
    return queued + failed
  }

  private async extract(file: StoredFile, signal: AbortSignal | undefined): Promise<ExtractionResult> {
    const { limits } = this.options
    if (IMAGE_KINDS.has(file.kind)) {
      const head = await this.readStart(file, IMAGE_HEAD_BYTES)
      try {
        return await extractImageFacts(head)
      } catch (error) {
        // A JPEG whose frame header comes after a large EXIF or ICC block: read it all.
        if (!(error instanceof ExtractionFailure) || head.length >= file.sizeBytes) throw error
        this.assertSmallEnough(file)
        return extractImageFacts(await this.readStart(file, file.sizeBytes))
      }
    }
    if (TEXT_KINDS.has(file.kind)) return extractText(await this.readStart(file, limits.maxTextChars * TEXT_BYTES_PER_CHAR), limits)
    if (DOCUMENT_KINDS.has(file.kind)) {
      this.assertSmallEnough(file)
      const bytes = await this.readStart(file, file.sizeBytes)
      return this.pool.run({ kind: file.kind as 'pdf' | 'docx' | 'xlsx' | 'doc', bytes, limits }, signal)
    }
    return { layout: 'none', parts: [], facts: { truncated: false } }
  }

  private assertSmallEnough(file: StoredFile): void {
    const { maxFileBytes } = this.options
    if (file.sizeBytes > maxFileBytes) {
      throw new ExtractionFailure(`The file is larger than the ${formatMiB(maxFileBytes)} that extraction reads`)
    }
  }

  /**
   * The file's first `maxBytes` bytes (all of it when it is smaller) in a buffer of their own,
   * so that it can be transferred to a worker thread without copying.
   */
  private async readStart(file: StoredFile, maxBytes: number): Promise<Buffer> {
    const length = Math.min(file.sizeBytes, maxBytes)
    const target = Buffer.from(new ArrayBuffer(length))
    if (length === 0) return target
    const stream: Readable = await this.blobs.get(file.blobKey, this.blobs.capabilities.has('range') ? { range: { start: 0, end: length - 1 } } : {})
    let filled = 0
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const take = Math.min(chunk.length, length - filled)
        chunk.copy(target, filled, 0, take)
        filled += take
        if (filled >= length) break
      }
    } finally {
      stream.destroy()
    }
    return filled === length ? target : target.subarray(0, filled)
  }

  private nextChance(fileId: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.finished.off(fileId, done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      this.finished.on(fileId, done)
      signal?.addEventListener('abort', done)
    })
  }
}

function toFileText(file: StoredFile, record: ExtractionRecord | undefined): FileText {
  const facts = record?.facts ?? { truncated: false }
  const parts = record?.parts ?? []
  const text = record?.content ?? ''
  return {
    fileId: file.id,
    kind: file.kind,
    status: record?.status ?? 'pending',
    error: record?.error,
    pages: record?.layout === 'pages' ? parts.map((part, index) => ({ number: index + 1, text: part.text })) : undefined,
    sheets: record?.layout === 'sheets' ? parts.map((part, index) => ({ name: part.name ?? `Sheet${index + 1}`, text: part.text })) : undefined,
    text,
    wordCount: record?.wordCount ?? 0,
    charCount: countCodePoints(text),
    pageCount: facts.pageCount,
    sheetCount: facts.sheetCount,
    truncated: facts.truncated,
    image: facts.image,
  }
}

function countCodePoints(text: string): number {
  // Code units, less one for each surrogate pair (an astral character is one character).
  let pairs = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff) pairs += 1
  }
  return text.length - pairs
}

function formatMiB(bytes: number): string {
  return `${Number((bytes / (1024 * 1024)).toFixed(1))} MiB`
}
