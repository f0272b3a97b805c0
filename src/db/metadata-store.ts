import { BackendUnavailableError } from '../outages.js'
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
  /** Never expires, whatever the retention. */
  readonly pinned: boolean
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
  /** Also the files of any user that hold an active grant to this API key at this time. */
  readonly grantedTo?: { readonly keyId: string; readonly at: Date }
  /** Every user's files (an API key created with --all-users); `userId` and `grantedTo` are then ignored. */
  readonly allUsers?: boolean
}

/**
 * Default per-user limits, applied to users without an override of their own.
 * `Number.MAX_SAFE_INTEGER` means no limit.
 */
export interface QuotaLimits {
  readonly maxBytes: number
  readonly maxFiles: number
}

/** What a user stores and may store. Usage counts exactly the user's ready files. */
export interface UserUsage {
  readonly userId: string
  readonly usedBytes: number
  readonly usedFiles: number
  /** The user's own limits; undefined: the configured default applies. */
  readonly maxBytes: number | undefined
  readonly maxFiles: number | undefined
}

/** Thrown by `markReady` when the file would take its owner past a limit; nothing was changed. */
export class QuotaExceededError extends Error {
  constructor(
    readonly usage: UserUsage,
    /** The limits in force for this user (their own or the default). */
    readonly limits: QuotaLimits,
    readonly incomingBytes: number,
  ) {
    super(`Upload of ${incomingBytes} bytes exceeds the quota of user ${usage.userId}`)
    this.name = 'QuotaExceededError'
  }
}

/**
 * Thrown by adapters when the database server cannot be reached, drops the connection or says it
 * cannot serve now (shutting down, starting, too many connections): a retry may succeed.
 */
export class MetadataStoreUnavailableError extends BackendUnavailableError {
  constructor(message: string, cause: unknown) {
    super(message, { cause })
    this.name = 'MetadataStoreUnavailableError'
  }
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
 * Makes a pending file visible. With `quota`, in the same transaction the owner's usage grows by
   * the file, only if it stays within the owner's limits (their own, else `quota`); otherwise throws
   * QuotaExceededError and the file stays pending. Exact under any number of concurrent uploads.
   * With `extractionJob`, in the same transaction, queues that job and records the file's extraction
   * as pending (see ExtractionRepository), so no upload is ever left unextracted by a crash.
   */
  markReady(id: string, stored: { sizeBytes: number; sha256: string; uploadedAt: Date }, options?: MarkReadyOptions): Promise<StoredFile>
  findReady(id: string): Promise<StoredFile | undefined>
  listReady(userId: string, query: ListFilesQuery): Promise<StoredFile[]>
  /** Hides a ready file of this user at once, releasing its usage in the same transaction; returns it, or undefined when there was none to hide. */
  markDeleting(id: string, userId: string): Promise<StoredFile | undefined>
  remove(id: string): Promise<void>
  findAbandoned(options: { pendingCreatedBefore: Date; limit: number }): Promise<AbandonedFile[]>
  /** Every user's ready files in id order, for whole-store jobs such as migration. */
  listAllReady(options: { afterId?: string; limit: number }): Promise<StoredFile[]>
  /** Adds a ready file exactly as given (migration), counted in its owner's usage; false when a row with that id already exists. */
  importReady(file: StoredFile): Promise<boolean>
  /** Pins or unpins a ready file of this user; undefined when there is none (another user's file included). */
  setPinned(id: string, userId: string, pinned: boolean): Promise<StoredFile | undefined>
}

export interface MarkReadyOptions {
  /** Default per-user limits to charge the upload against; without it, usage grows unchecked. */
  readonly quota?: QuotaLimits
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
 * A search of one user's ready files (for an API key, also those it may read) over names and extracted text. Every term must occur
 * (case-insensitively, as a substring: no stemming, so it works for Chinese); ranked best first.
 */
export interface SearchQuery {
  /** 1 to 8 terms, each 1 to 100 characters. */
  readonly terms: readonly string[]
  /** Only these kinds; undefined means every kind. */
  readonly kinds?: readonly string[]
  readonly limit: number
  readonly offset: number
  /** Also the files of any user that hold an active grant to this API key at this time. */
  readonly grantedTo?: { readonly keyId: string; readonly at: Date }
  /** Every user's files (an API key created with --all-users), not only the user's own. */
  readonly allUsers?: boolean
}

export interface SearchRepository {
  /**
   * Ranked: files whose name holds every term first (newest first), then those that hold them in
   * their text (SQLite: most recently indexed first; PostgreSQL: newest first).
   */
  search(userId: string, query: SearchQuery): Promise<StoredFile[]>
}

/** A chat between one caller and the agent. */
export interface ConversationRecord {
  readonly id: string
  /** The caller's user id (an API key's own space, `key:<id>`, for a key). */
  readonly userId: string
  /** The start of the first message. */
  readonly title: string
  readonly messageCount: number
  readonly createdAt: Date
  readonly updatedAt: Date
}

export type ChatRole = 'user' | 'assistant'

export interface ChatMessageRecord {
  /** Position in the conversation, from 1. */
  readonly seq: number
  readonly role: ChatRole
  readonly content: string
  readonly createdAt: Date
}

/** A file as it was when attached to a conversation. */
export interface NewConversationAttachment {
  readonly fileId: string
  readonly originalName: string
  readonly kind: string
  readonly sizeBytes: number
}

export interface ConversationAttachmentRecord extends NewConversationAttachment {
  readonly addedAt: Date
  /** False once the file is deleted (or being deleted): it is then shown as deleted and no longer sent. */
  readonly available: boolean
}

/**
 * Conversations, their messages and attachments. Every method that takes a `userId` answers as if
 * another user's conversation did not exist. Attachments outlive their files (no foreign key).
 */
export interface ConversationRepository {
  /**
   * Records one turn in one transaction: creates the conversation first when `create` is given,
   * attaches the files it lacks (those it has keep their first record), then appends the messages
   * after the last one, in order, and bumps `updatedAt`; concurrent turns never share a position.
   * False, and nothing recorded, when the conversation is gone (and not being created).
   */
  recordTurn(
    id: string,
    turn: {
      readonly create?: { readonly userId: string; readonly title: string }
      readonly attachments: readonly NewConversationAttachment[]
      readonly messages: ReadonlyArray<{ readonly role: ChatRole; readonly content: string }>
      readonly at: Date
    },
  ): Promise<boolean>
  find(id: string, userId: string): Promise<ConversationRecord | undefined>
  /** The last `limit` messages, oldest first. */
  messages(id: string, options: { limit: number }): Promise<ChatMessageRecord[]>
  /** The conversation's attachments in the order they were added, each saying whether its file is still there. */
  attachments(id: string): Promise<ConversationAttachmentRecord[]>
  /** The user's conversations, most recently updated first, after the cursor. */
  list(userId: string, options: { limit: number; before?: { updatedAtMs: number; id: string } }): Promise<ConversationRecord[]>
  /** Removes the conversation with its messages and attachments; false when the user has none by that id. */
  remove(id: string, userId: string): Promise<boolean>
  /** Every user's conversations in id order after `afterId`, each whole, for copying to another store. */
  exportPage(options: { afterId?: string; limit: number }): Promise<ConversationExport[]>
  /**
   * Adds an exported conversation in one transaction: the conversation if missing, and the messages
   * and attachments it lacks (a later export of a conversation that went on carries its new turns).
   * Returns how many messages it added, and whether it created the conversation.
   */
  import(conversation: ConversationExport): Promise<{ created: boolean; messages: number }>
}

/** A conversation with everything it holds; its messages are exactly those up to `messageCount`. */
export interface ConversationExport {
  readonly conversation: ConversationRecord
  readonly messages: readonly ChatMessageRecord[]
  readonly attachments: ReadonlyArray<Omit<ConversationAttachmentRecord, 'available'>>
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

/** A WeChat identity, as jscode2session answers it for one Mini Program. */
export interface WechatIdentity {
  readonly appId: string
  readonly openid: string
  readonly unionid: string | undefined
}

export interface UserRepository {
  /** The user's usage and own limits; zeros and no limits for a user never seen. */
  usage(userId: string): Promise<UserUsage>
  /**
   * Sets the user's own limits; a field left undefined keeps its value, null returns it to the
   * default. Creates the user's row when needed.
   */
  setQuota(userId: string, limits: { maxBytes?: number | null; maxFiles?: number | null }, at: Date): Promise<UserUsage>
  /**
   * The Cabinet user of a WeChat identity: the one already linked to this openid, else the one linked
   * to the same unionid (another Mini Program of the same developer), else `newUserId`, linked now.
   * Safe when the same identity signs in on several instances at once.
   */
  signInWechat(identity: WechatIdentity, newUserId: string, at: Date): Promise<{ userId: string; created: boolean }>
  /**
   * Sets every user's usage from their ready files, for when rows were changed behind Cabinet's back
   * (migration ends with it). Not for use while uploads run: they would be miscounted.
   */
  recountUsage(at: Date): Promise<void>
  /** Every user row and WeChat link, for migration. */
  exportAll(): Promise<{ users: UserUsage[]; wechat: Array<WechatIdentity & { userId: string; createdAt: Date }> }>
  /** Adds users' own limits and WeChat links that the target lacks (migration); usage comes from importReady. */
  importAll(data: Awaited<ReturnType<UserRepository['exportAll']>>, at: Date): Promise<void>
}

export type ApiKeyScope = 'files:read' | 'files:write' | 'chat' | 'admin'

export interface ApiKeyRecord {
  readonly id: string
  readonly name: string
  readonly secretHash: string
  readonly scopes: readonly ApiKeyScope[]
  /** May read every user's files, not only those granted to it. */
  readonly allUsers: boolean
  readonly createdAt: Date
  readonly expiresAt: Date | undefined
  readonly revokedAt: Date | undefined
}

export interface ApiKeyRepository {
  /** Throws when an active key already has this name. */
  insert(key: ApiKeyRecord): Promise<void>
  findById(id: string): Promise<ApiKeyRecord | undefined>
  /** The unrevoked key of that name (possibly expired). */
  findActiveByName(name: string): Promise<ApiKeyRecord | undefined>
  /** False when no unrevoked key had that id. */
  revoke(id: string, at: Date): Promise<boolean>
  /** Every key, newest first. */
  list(): Promise<ApiKeyRecord[]>
}

export interface GrantRecord {
  readonly id: string
  readonly fileId: string
  readonly keyId: string
  /** The file's owner, who granted it. */
  readonly grantedBy: string
  readonly createdAt: Date
  readonly expiresAt: Date
  readonly revokedAt: Date | undefined
}

export interface GrantRepository {
  insert(grant: GrantRecord): Promise<void>
  /** The grant to this key for this file that is unrevoked and unexpired at `at` and lasts longest. */
  findActive(keyId: string, fileId: string, at: Date): Promise<GrantRecord | undefined>
  /** The file's grants, newest first, expired and revoked ones included. */
  listForFile(fileId: string): Promise<GrantRecord[]>
  /** Revokes one grant of this file; false when it had none unrevoked by that id. */
  revoke(id: string, fileId: string, at: Date): Promise<boolean>
  /** Every grant in id order after `afterId`, for copying to another store. */
  listAll(options: { afterId?: string; limit: number }): Promise<GrantRecord[]>
  /**
   * Adds a grant copied from another store, or its revocation to the copy made before it was revoked.
   * `skipped` when this store lacks its file or key, `unchanged` when it already holds it as it is.
   */
  import(grant: GrantRecord): Promise<'copied' | 'revoked' | 'unchanged' | 'skipped'>
}

export interface AuditEntry {
  readonly id: string
  readonly at: Date
  /** The API key that acted, if a key did. */
  readonly keyId: string | undefined
  /** The user that acted, if a user did (granting, revoking). */
  readonly userId: string | undefined
  /** What was done, e.g. `file.download`, `file.list`, `grant.create`, `chat.attach`. */
  readonly action: string
  readonly fileId: string | undefined
  readonly fileOwner: string | undefined
  /** The client's address. */
  readonly ip: string | undefined
  readonly outcome: 'allowed' | 'denied'
  /** A few words more, never a secret. */
  readonly detail: string | undefined
}

export interface AuditQuery {
  readonly keyId?: string
  readonly fileId?: string
  /** Only entries at or after this time. */
  readonly since?: Date
  readonly limit: number
}

export interface AuditRepository {
  insert(entry: AuditEntry): Promise<void>
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEntry[]>
  /** Removes entries older than `before`; returns how many. */
  purgeBefore(before: Date): Promise<number>
  /** Oldest first, after the cursor, for copying to another store. */
  listAfter(options: { after?: { atMs: number; id: string }; limit: number }): Promise<AuditEntry[]>
  /** Adds the entries this store lacks (by id); returns how many it added. */
  importMissing(entries: readonly AuditEntry[]): Promise<number>
}

export interface RateLimitRepository {
  /**
   * Counts one hit on `key` in its fixed window: the window starts at the first hit and lasts
   * `windowMs`. Returns the hits so far in the window (this one included) and when it resets.
   * Atomic across instances: N concurrent hits count N.
   */
  hit(key: string, windowMs: number, at: Date): Promise<{ hits: number; resetAt: Date }>
  /** Removes counters whose window ended before `at`; returns how many. */
  purgeExpired(at: Date): Promise<number>
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
  readonly blobReferences: BlobReferenceRepository
  readonly retention: RetentionRepository
  readonly jobRuns: JobRunRepository
  readonly traffic: TrafficRepository
  readonly stats: StatsRepository
  /**
   * Writes one consistent snapshot of the whole database (every table, whoever added it) to the
   * local file `path`, and returns it with the blobs that snapshot references, read from the same
   * snapshot: SQLite's online backup API, or `pg_dump` inside an exported REPEATABLE READ snapshot.
   */
  snapshot(path: string): Promise<MetadataSnapshot>
  /** Bytes the metadata takes in its database, or undefined when the database cannot say. */
  sizeBytes(): Promise<number | undefined>
  readonly users: UserRepository
  readonly apiKeys: ApiKeyRepository
  readonly grants: GrantRepository
  readonly audit: AuditRepository
  readonly rateLimits: RateLimitRepository
  /**
   * Resolves once every transaction this store committed before the call would survive a power
   * cut. Commits may return before that (SQLite batches its WAL syncs), so a service awaits this
   * before it acknowledges anything a user relies on, and before bytes land that a row must track.
   */
  syncCommitted(): Promise<void>
  readonly extractions: ExtractionRepository
  readonly search: SearchRepository
  readonly derivedBlobs: DerivedBlobRepository
  readonly conversations: ConversationRepository
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** A blob the metadata references: a file's own bytes (and, later, its derived blobs such as thumbnails). */
export interface BlobReference {
  readonly key: string
  /** The file the blob belongs to; deleting the file deletes the blob. */
  readonly fileId: string
  /** The owning file's status: only a ready file's blobs must exist; a pending file's may not yet. */
  readonly fileStatus: FileStatus
  /** `file` for the file's own bytes; derived blobs (issue 5) name their own role. */
  readonly role: string
  /** What the blob must hold, when the metadata records it. */
  readonly sizeBytes: number | undefined
  readonly sha256: string | undefined
}

/**
 * "The blobs the metadata references", in one place: clean-up, `cabinet verify` and backups go
 * through it, so a table that adds blobs (thumbnails, extraction results) adds them here and is
 * neither reported as orphans nor left out of backups nor left behind when its file is deleted.
 */
export interface BlobReferenceRepository {
  /** Every referenced blob, whatever its file's status, one page at a time; no particular order. */
  list(): AsyncIterable<BlobReference>
  /** Which of `keys` some row references (any status). */
  referenced(keys: readonly string[]): Promise<Set<string>>
  /**
   * Every blob the file owns, its own bytes first: what must go when the file goes. The hook for
   * derived blobs (issue 5): today only the file's own key.
   */
  ownedBy(file: { readonly id: string; readonly blobKey: string }): Promise<string[]>
}

/** A user's own retention; `retentionMs` undefined means their files never expire. */
export interface RetentionPolicy {
  readonly userId: string
  readonly retentionMs: number | undefined
  readonly updatedAt: Date
}

export interface RetentionRepository {
  /** Sets the user's own retention: milliseconds, or null for "never expires". */
  setPolicy(userId: string, retentionMs: number | null, at: Date): Promise<void>
  /** Back to the global retention; false when the user had no policy of their own. */
  clearPolicy(userId: string): Promise<boolean>
  getPolicy(userId: string): Promise<RetentionPolicy | undefined>
  /** Every user's own policy, by user id. */
  listPolicies(): Promise<RetentionPolicy[]>
  /**
   * Ready, unpinned files whose age at `now` exceeds their owner's retention, or `defaultRetentionMs`
   * for owners without one (undefined: those never expire); in id order after `afterId`.
   */
  findExpired(options: { now: Date; defaultRetentionMs: number | undefined; afterId?: string; limit: number }): Promise<StoredFile[]>
  /** How many files and bytes `findExpired` would yield in all. */
  countExpired(options: { now: Date; defaultRetentionMs: number | undefined }): Promise<FileTotals>
  /** Hides a ready, unpinned file for deletion; undefined when it was pinned, deleted or gone meanwhile. */
  markExpiredDeleting(id: string): Promise<StoredFile | undefined>
}

export type JobRunOutcome = 'running' | 'succeeded' | 'failed' | 'skipped' | 'interrupted'

/** One run of an operations job (clean-up, backup), scheduled or from the CLI. */
export interface JobRun {
  readonly id: string
  readonly job: string
  readonly triggeredBy: 'schedule' | 'cli'
  /** The cron tick of a scheduled run. */
  readonly scheduledFor: Date | undefined
  readonly instance: string
  readonly startedAt: Date
  readonly finishedAt: Date | undefined
  readonly outcome: JobRunOutcome
  /** The run's report, as JSON. */
  readonly summary: unknown
  readonly error: string | undefined
}

export interface JobRunRepository {
  /**
   * Records the start of a run. A scheduled run names its tick: undefined when that tick of that
   * job already has a run, so that each tick runs once however many instances fire it.
   */
  start(run: { job: string; triggeredBy: 'schedule' | 'cli'; scheduledFor?: Date; instance: string; startedAt: Date }): Promise<JobRun | undefined>
  finish(id: string, result: { outcome: Exclude<JobRunOutcome, 'running'>; finishedAt: Date; summary?: unknown; error?: string }): Promise<void>
  /** Marks the job's other runs still `running` as interrupted (their process died); call while holding the job's lock. */
  markInterrupted(job: string, exceptId: string, at: Date): Promise<number>
  /** Newest first. */
  list(options: { job?: string; limit: number }): Promise<JobRun[]>
}

/** Uploads and downloads of one UTC day. */
export interface DailyTraffic {
  /** YYYY-MM-DD. */
  readonly day: string
  readonly uploads: number
  readonly uploadBytes: number
  readonly downloads: number
  readonly downloadBytes: number
}

export interface TrafficRepository {
  /** Adds to the day's counters (creating the day), atomically against other instances. */
  add(traffic: DailyTraffic): Promise<void>
  /** Days from `fromDay` on, oldest first; days without traffic are absent. */
  list(fromDay: string): Promise<DailyTraffic[]>
}

export interface FileTotals {
  readonly files: number
  readonly bytes: number
}

/** Aggregates over ready files, for `cabinet stats` and GET /api/admin/stats. */
export interface StatsRepository {
  totals(): Promise<FileTotals & { readonly pinned: number; readonly users: number }>
  byKind(): Promise<Array<FileTotals & { readonly kind: string }>>
  /** The `limit` users storing the most bytes. */
  topUsers(limit: number): Promise<Array<FileTotals & { readonly userId: string }>>
  largest(limit: number): Promise<StoredFile[]>
}

/** A consistent copy of the whole metadata database in a local file. */
export interface MetadataSnapshot {
  /** `sqlite`: a database file; `pg_dump`: a pg_dump custom-format archive. */
  readonly format: 'sqlite' | 'pg_dump'
  readonly path: string
  /** Every blob the snapshot references, read from the snapshot itself. */
  readonly blobReferences: readonly BlobReference[]
}
