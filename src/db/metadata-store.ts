import type { FileStatus } from './database.js'
import type { ExtractedPart, ExtractionFacts, ExtractionLayout, ExtractionResult, ExtractionStatus } from '../domain/extraction/extraction-types.js'
import type { EnqueueOptions } from '../jobs/job-queue.js'

/** A file as the rest of Cabinet sees it once its bytes are stored. */
export interface StoredFile {
  readonly id: string
  readonly userId: string
  readonly status: FileStatus
  readonly originalName: string
  readonly kind: string
  readonly mimeType: string
  readonly blobKey: string
  readonly sizeBytes: number
  readonly sha256: string
  readonly uploadedAt: Date
}

export interface NewPendingFile {
  readonly id: string
  readonly userId: string
  readonly originalName: string
  readonly kind: string
  readonly mimeType: string
  readonly blobKey: string
  readonly createdAt: Date
}

/** Position after the last item of a page, newest first. */
export interface ListCursor {
  readonly uploadedAtMs: number
  readonly id: string
}

export interface ListFilesQuery {
  readonly limit: number
  readonly after?: ListCursor
  /** Only these kinds; undefined means every kind. */
  readonly kinds?: readonly string[]
}

/** Work interrupted by a crash: a pending upload or a half-done delete whose blob may exist. */
export interface AbandonedFile {
  readonly id: string
  readonly blobKey: string
  readonly status: FileStatus
}

export interface FileRepository {
  /** Records an upload before its bytes are written, so a crash leaves a row to clean up rather than an orphan blob. */
  insertPending(file: NewPendingFile): Promise<void>
  /**
   * Makes a pending upload visible. With `extractionJob`, in the same transaction, queues that job
   * and records the file's extraction as pending (see ExtractionRepository), so no upload is ever
   * left unextracted by a crash.
   */
  markReady(id: string, stored: { sizeBytes: number; sha256: string; uploadedAt: Date }, options?: MarkReadyOptions): Promise<StoredFile>
  findReady(id: string): Promise<StoredFile | undefined>
  listReady(userId: string, query: ListFilesQuery): Promise<StoredFile[]>
  /** Hides a ready file of this user at once; returns it, or undefined when there was none to hide. */
  markDeleting(id: string, userId: string): Promise<StoredFile | undefined>
  remove(id: string): Promise<void>
  findAbandoned(options: { pendingCreatedBefore: Date; limit: number }): Promise<AbandonedFile[]>
  /** Every user's ready files in id order, for whole-store jobs such as migration. */
  listAllReady(options: { afterId?: string; limit: number }): Promise<StoredFile[]>
  /** Adds a ready file exactly as given (migration); false when a row with that id already exists. */
  importReady(file: StoredFile): Promise<boolean>
}

export interface MarkReadyOptions {
  /** The extract-file job for this upload. */
  readonly extractionJob?: EnqueueOptions
}

/** A file's extraction as stored: its status, its text divided into pages or sheets, and its facts. */
export interface ExtractionRecord {
  readonly fileId: string
  readonly userId: string
  readonly status: ExtractionStatus
  /** The job that fills it in; its state explains a row left pending. */
  readonly jobId: string | undefined
  readonly error: string | undefined
  readonly layout: ExtractionLayout
  readonly parts: readonly ExtractedPart[]
  /** Every part's text, joined by PART_SEPARATOR: what search reads. */
  readonly content: string
  readonly facts: ExtractionFacts
  readonly wordCount: number
  readonly updatedAt: Date
}

/** What extraction produced, ready to store. */
export interface ExtractionOutcome extends ExtractionResult {
  readonly status: 'done' | 'unsupported'
  readonly wordCount: number
}

export interface ExtractionRepository {
  find(fileId: string): Promise<ExtractionRecord | undefined>
  /**
   * Stores the result and indexes its text for search; false when the file is gone. With
   * `completeJob`, also marks that running job done (if `workerId` still holds it) in the same
   * transaction: one commit instead of two per extracted file.
   */
  saveResult(fileId: string, outcome: ExtractionOutcome, options?: { completeJob?: { id: string; workerId: string } }): Promise<boolean>
  /** Marks the extraction failed with a reason (the name stays searchable); false when the file is gone. */
  saveFailure(fileId: string, error: string): Promise<boolean>
  /**
   * Queues extraction for up to `limit` ready files that have no extraction row (uploaded before
   * extraction existed, or imported), each job and row in one transaction; returns how many.
   */
  queueMissing(options: { limit: number; job: (fileId: string) => EnqueueOptions }): Promise<number>
  /** Marks failed, with the job's reason, up to `limit` pending rows whose job failed for good or is gone; returns how many. */
  failOrphaned(options: { limit: number }): Promise<number>
}

/**
 * A search of one user's ready files over names and extracted text. Every term must occur
 * (case-insensitively, as a substring: no stemming, so it works for Chinese); ranked best first.
 */
export interface SearchQuery {
  /** 1 to 8 terms, each 1 to 100 characters. */
  readonly terms: readonly string[]
  /** Only these kinds; undefined means every kind. */
  readonly kinds?: readonly string[]
  readonly limit: number
  readonly offset: number
}

export interface SearchRepository {
  /**
   * Ranked: files whose name holds every term first (newest first), then those that hold them in
   * their text (SQLite: most recently indexed first; PostgreSQL: newest first).
   */
  search(userId: string, query: SearchQuery): Promise<StoredFile[]>
}

/** A blob made from a file (a thumbnail). `sha256` and `sizeBytes` are undefined until it is completely written. */
export interface DerivedBlob {
  readonly blobKey: string
  readonly fileId: string
  readonly kind: string
  readonly variant: string
  readonly sizeBytes: number | undefined
  readonly sha256: string | undefined
  readonly createdAt: Date
}

/**
 * Derived blobs, tied to their file: their rows go with the file's row (cascade), so delete
 * the blobs first. A row is written before its blob, so the table lists every derived blob
 * that may exist (backups, verification, orphan clean-up read it).
 */
export interface DerivedBlobRepository {
  /**
   * Records that `blobKey` is about to be written (replacing a stale row of the same key);
   * false, and nothing recorded, when the file is not ready (deleted or being deleted).
   */
  begin(blob: { blobKey: string; fileId: string; kind: string; variant: string; createdAt: Date }): Promise<boolean>
  /** Records the written blob's size and hash; false when its row is gone (the file was deleted meanwhile). */
  complete(blobKey: string, written: { sizeBytes: number; sha256: string }): Promise<boolean>
  find(blobKey: string): Promise<DerivedBlob | undefined>
  listForFile(fileId: string): Promise<DerivedBlob[]>
  /** Forgets a derived blob whose write failed (delete the blob first). */
  remove(blobKey: string): Promise<void>
}

export interface TokenRecord {
  readonly id: string
  readonly userId: string
  readonly secretHash: string
  readonly createdAt: Date
  readonly expiresAt: Date | undefined
  readonly revokedAt: Date | undefined
  /** May use the operator's routes (/api/admin/*). */
  readonly admin: boolean
}

export interface TokenRepository {
  insert(token: TokenRecord): Promise<void>
  findById(id: string): Promise<TokenRecord | undefined>
  /** Returns false when no unrevoked token had that id (an expired one is still marked revoked). */
  revoke(id: string, at: Date): Promise<boolean>
  list(userId?: string): Promise<TokenRecord[]>
}

/** Values every instance must agree on. */
export interface SettingsRepository {
  /** The stored value, or `create()`'s, stored first by whichever instance gets there first. */
  getOrCreate(key: string, create: () => string): Promise<string>
}

/** The metadata port: one adapter per database, all passing test/conformance/metadata-store. */
export interface MetadataStore {
  readonly dialect: 'sqlite' | 'postgres'
  readonly files: FileRepository
  readonly tokens: TokenRepository
  readonly settings: SettingsRepository
  readonly extractions: ExtractionRepository
  readonly search: SearchRepository
  readonly derivedBlobs: DerivedBlobRepository
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>
  close(): Promise<void>
}
