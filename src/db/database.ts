import type { Generated } from 'kysely'
import type { ExtractionStatus } from '../domain/extraction/extraction-types.js'

/** Table types, snake_case as stored; repositories map rows to domain objects. Times are epoch milliseconds. */
export interface Database {
  files: FilesTable
  tokens: TokensTable
  settings: SettingsTable
  jobs: JobsTable
  locks: LocksTable
  retention_policies: RetentionPoliciesTable
  job_runs: JobRunsTable
  traffic_daily: TrafficDailyTable
  users: UsersTable
  wechat_accounts: WechatAccountsTable
  api_keys: ApiKeysTable
  file_grants: FileGrantsTable
  audit_log: AuditLogTable
  rate_limits: RateLimitsTable
  file_extractions: FileExtractionsTable
  derived_blobs: DerivedBlobsTable
  conversations: ConversationsTable
  chat_messages: ChatMessagesTable
  conversation_attachments: ConversationAttachmentsTable
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
  /** 1: never expires (PATCH /api/files/:id {pinned:true}). */
  pinned: Generated<number>
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

/** A user's own retention, overriding CABINET_RETENTION; no row means the global one applies. */
export interface RetentionPoliciesTable {
  user_id: string
  /** Null: this user's files never expire. */
  retention_ms: number | null
  updated_at: number
}

/** One run of a clean-up or backup, scheduled or from the CLI, with its outcome. */
export interface JobRunsTable {
  id: string
  job: string
  triggered_by: 'schedule' | 'cli'
  /** The cron tick of a scheduled run; unique per job. */
  scheduled_for: number | null
  instance: string
  started_at: number
  finished_at: number | null
  outcome: 'running' | 'succeeded' | 'failed' | 'skipped' | 'interrupted'
  /** JSON: the run's report. */
  summary: string | null
  error: string | null
}

/** Uploads and downloads per UTC day, added to by every instance in batches. */
export interface TrafficDailyTable {
  /** YYYY-MM-DD, UTC. */
  day: string
  uploads: Generated<number>
  upload_bytes: Generated<number>
  downloads: Generated<number>
  download_bytes: Generated<number>
}

/**
 * One row per user who has stored a file, signed in with WeChat or been given a quota.
 * `used_*` count exactly the user's ready files: they change in the same transaction
 * that makes a file ready (upload) or hides it (delete).
 */
export interface UsersTable {
  id: string
  created_at: number
  used_bytes: number
  used_files: number
  /** Null: the configured default. */
  max_bytes: number | null
  max_files: number | null
}

/** Maps a WeChat identity (per Mini Program app id) to a Cabinet user. */
export interface WechatAccountsTable {
  app_id: string
  openid: string
  /** Set when WeChat sends one (the Mini Program is bound to an Open Platform account). */
  unionid: string | null
  user_id: string
  created_at: number
  last_login_at: number
}

/** Keys for agents and services; only a hash of the secret is stored. */
export interface ApiKeysTable {
  id: string
  name: string
  secret_hash: string
  /** Comma-separated, e.g. `files:read,chat`. */
  scopes: string
  /** 1: may read every user's files (created by an operator with --all-users). */
  all_users: number
  created_at: number
  expires_at: number | null
  revoked_at: number | null
}

/** A user's permission for one key to read one of their files, until it expires or is revoked. */
export interface FileGrantsTable {
  id: string
  file_id: string
  key_id: string
  granted_by: string
  created_at: number
  expires_at: number
  revoked_at: number | null
}

/** Every access by an API key (and every grant change), newest last. */
export interface AuditLogTable {
  id: string
  at: number
  key_id: string | null
  /** The user acting, for actions a user takes (granting, revoking). */
  user_id: string | null
  action: string
  file_id: string | null
  file_owner: string | null
  ip: string | null
  outcome: 'allowed' | 'denied'
  detail: string | null
}

/** Fixed-window request counters shared by every instance on PostgreSQL. */
export interface RateLimitsTable {
  key: string
  hits: number
  reset_at: number
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

/** A user's chat with the agent (migration 0007). `user_id` is the caller's user id (an API key's own space for a key). */
export interface ConversationsTable {
  id: string
  user_id: string
  /** The start of the first message, for lists. */
  title: string
  message_count: number
  created_at: number
  updated_at: number
}

/** One message of a conversation; `seq` counts from 1. */
export interface ChatMessagesTable {
  conversation_id: string
  seq: number
  role: 'user' | 'assistant'
  content: string
  created_at: number
}

/** A file attached to a conversation, as it was when attached; no foreign key to files (see migration 0007). */
export interface ConversationAttachmentsTable {
  conversation_id: string
  file_id: string
  original_name: string
  kind: string
  size_bytes: number
  added_at: number
}
