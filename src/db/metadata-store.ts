import type { FileStatus } from './database.js'

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
  markReady(id: string, stored: { sizeBytes: number; sha256: string; uploadedAt: Date }): Promise<StoredFile>
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
  /**
   * Resolves once every transaction this store committed before the call would survive a power
   * cut. Commits may return before that (SQLite batches its WAL syncs), so a service awaits this
   * before it acknowledges anything a user relies on, and before bytes land that a row must track.
   */
  syncCommitted(): Promise<void>
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>
  close(): Promise<void>
}
