import type { ExtractionStatus } from '../domain/extraction/extraction-types.js'


/** Table types, snake_case as stored; repositories map rows to domain objects. Times are epoch milliseconds. */
export interface Database {
  files: FilesTable
  tokens: TokensTable
  settings: SettingsTable
  jobs: JobsTable
  locks: LocksTable
  file_extractions: FileExtractionsTable
  derived_blobs: DerivedBlobsTable
}

export type FileStatus = 'pending' | 'ready' | 'deleting'

export interface FilesTable {
  id: string
  user_id: string
  /** pending: bytes being written; ready: visible; deleting: row kept until the blob is gone. */
  status: FileStatus
  original_name: string
  kind: string
  mime_type: string
  blob_key: string
  size_bytes: number | null
  sha256: string | null
  created_at: number
  uploaded_at: number | null
}

export interface TokensTable {
  id: string
  user_id: string
  secret_hash: string
  created_at: number
  expires_at: number | null
  revoked_at: number | null
  /** 1: may use the operator's routes (/api/admin/*). */
  admin: number
}

/** Shared values every instance must agree on, e.g. the signed-URL secret when none is configured. */
export interface SettingsTable {
  key: string
  value: string
}

export type JobState = 'queued' | 'running' | 'done' | 'failed'

/** The job queue shared by every instance: claimed with row locks, leased, retried with backoff. */
export interface JobsTable {
  id: string
  kind: string
  /** JSON. */
  payload: string
  state: JobState
  /** Not before this time (epoch ms): set by the enqueuer and by retry backoff. */
  run_at: number
  attempts: number
  max_attempts: number
  /** Worker holding the lease while running. */
  locked_by: string | null
  locked_until: number | null
  last_error: string | null
  /** At most one queued or running job per key; null for none. */
  dedupe_key: string | null
  created_at: number
  updated_at: number
}

/** Named leases, so that one instance at a time runs a scheduled task. */
export interface LocksTable {
  name: string
  owner: string
  expires_at: number
}

/** One row per ready file: what extraction found in it, and the text search reads (migration 0006). */
export interface FileExtractionsTable {
  file_id: string
  user_id: string
  /** The file's name, copied so that search reads one table. */
  name: string
  status: ExtractionStatus
  /** The extract-file job that fills this row in. */
  job_id: string | null
  /** Why extraction failed, for people. */
  error: string | null
  /** 'pages', 'sheets', 'document', 'image' or 'none'. */
  layout: string | null
  /** JSON array of `{ name?, start, end }`: each page's or sheet's slice of `content`, in UTF-16 code units. */
  parts: string | null
  /** The extracted text (Markdown for documents and sheets), capped. */
  content: string
  /** JSON: page and sheet counts, image facts, whether the text was capped. */
  facts: string | null
  word_count: number
  /** SQLite only: this file's row in the file_search FTS5 table. */
  search_rowid: number | null
  updated_at: number
}

/**
 * Blobs made from a file (thumbnails), deleted with it and counted in nobody's quota. A row is
 * written before its blob, so every blob that may exist is listed here; `sha256` and `size_bytes`
 * are null until the blob is completely written.
 */
export interface DerivedBlobsTable {
  blob_key: string
  file_id: string
  /** What it is, e.g. 'thumbnail'. */
  kind: string
  /** Which one of its kind, e.g. '256.webp'. */
  variant: string
  size_bytes: number | null
  sha256: string | null
  created_at: number
}
