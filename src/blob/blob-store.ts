import type { Readable } from 'node:stream'
import { BackendUnavailableError } from '../outages.js'

/** Inclusive byte offsets, as in an HTTP Range header. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

export interface PutOptions {
  /** Stored with the object where the backend keeps it (S3); informational elsewhere. */
  readonly contentType?: string
  /**
   * Awaited before the blob can become visible under its key (at the latest; a backend that
   * cannot publish separately awaits it before writing). Lets a caller overlap making its own
   * record durable with the transfer, and still never publish a blob that no record tracks.
   */
  readonly beforePublish?: () => Promise<void>
  /**
   * Aborting it stops the write: the put rejects with the signal's reason and publishes nothing
   * from then on (an object a backend published just before stays, for the caller to remove).
   */
  readonly signal?: AbortSignal
}

export interface GetOptions {
  readonly range?: ByteRange
}

export interface PresignOptions {
  readonly expiresInSeconds: number
  /** Sent back by the backend as the response's Content-Disposition / Content-Type. */
  readonly contentDisposition?: string
  readonly contentType?: string
}

export interface BlobInfo {
  readonly key: string
  readonly sizeBytes: number
  readonly modifiedAt: Date
}

export type BlobCapability = 'range' | 'presign' | 'multipart'

/**
 * Blob bytes only; metadata lives in the MetadataStore. Keys pass `assertSafeKey`
 * first. A `put` is atomic: readers see the whole blob or nothing, and a failed or
 * aborted put leaves nothing behind.
 */
export interface BlobStore {
  readonly capabilities: ReadonlySet<BlobCapability>
  put(key: string, body: Readable, options?: PutOptions): Promise<BlobInfo>
  /** Rejects with `BlobNotFoundError` when the key does not exist. */
  get(key: string, options?: GetOptions): Promise<Readable>
  /**
   * The range's bytes in one Buffer: for small reads (a few hundred KiB), one read into one
   * buffer costs less than a stream. The caller bounds the size. Rejects with
   * `BlobNotFoundError` when the key does not exist, and with an error when the blob ends
   * before the range does.
   */
  readBuffer(key: string, range: ByteRange): Promise<Buffer>
  head(key: string): Promise<BlobInfo | undefined>
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>
  list(prefix: string): AsyncIterable<BlobInfo>
  /**
   * A time-limited URL that fetches the blob straight from the backend, when
   * `capabilities` has 'presign' (object storage); downloads can redirect to it.
   */
  presignGet?(key: string, options: PresignOptions): Promise<string>
  /**
   * Removes what writes interrupted by a crash left behind (temp files, unfinished
   * multipart uploads) older than `olderThanMs`; returns how many.
   */
  removeAbandonedWrites?(olderThanMs: number): Promise<number>
  /**
   * The writes `removeAbandonedWrites(olderThanMs)` would remove, for `cabinet verify` to report:
   * temp files on disk, unfinished multipart uploads in a bucket.
   */
  listAbandonedWrites?(olderThanMs: number): AsyncIterable<AbandonedWrite>
  /**
   * Local disk only: folders and files of the store whose mode is not Cabinet's (0750 folders,
   * 0640 files). Object storage has no modes, so it has no such method.
   */
  findWrongModes?(): AsyncIterable<WrongMode>
  /** Sets the expected mode on a path `findWrongModes` reported. */
  fixMode?(path: string): Promise<void>
  /** Object storage only: rejects when the bucket does not answer within a few seconds, for readiness checks. */
  ping?(): Promise<void>
  /** Bytes still free for new blobs, or undefined when the backend has no such limit (object storage). */
  availableBytes(): Promise<number | undefined>
  close(): Promise<void>
}

/** A write a crash left behind: a temp file, an unfinished multipart upload. */
export interface AbandonedWrite {
  /** `tmp/<name>` on disk, `multipart:<key>` in a bucket. */
  readonly name: string
  readonly startedAt: Date
}

export interface WrongMode {
  /** Relative to the store's root, e.g. `blobs/ab/<id>`. */
  readonly path: string
  readonly mode: number
  readonly expectedMode: number
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`Blob not found: ${key}`)
    this.name = 'BlobNotFoundError'
  }
}

/** Thrown by adapters when the backend itself is out of space (ENOSPC, EDQUOT). */
export class BlobStorageFullError extends Error {
  constructor(cause: unknown) {
    super('Blob storage is full', { cause })
    this.name = 'BlobStorageFullError'
  }
}

/**
 * Thrown by adapters when the backend cannot be reached or says it is unavailable (a refused or
 * dropped connection, a timeout, a 5xx answer): nothing is wrong with the request, and a retry may succeed.
 */
export class BlobStoreUnavailableError extends BackendUnavailableError {
  constructor(message: string, cause: unknown) {
    super(message, { cause })
    this.name = 'BlobStoreUnavailableError'
  }
}
