import type { Generated } from 'kysely'

/** Table types, snake_case as stored; repositories map rows to domain objects. Times are epoch milliseconds. */
export interface Database {
  files: FilesTable
  tokens: TokensTable
  settings: SettingsTable
  jobs: JobsTable
  locks: LocksTable
  retention_policies: RetentionPoliciesTable
  job_runs: JobRunsTable
  usage_daily: UsageDailyTable
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
export interface UsageDailyTable {
  /** YYYY-MM-DD, UTC. */
  day: string
  uploads: Generated<number>
  upload_bytes: Generated<number>
  downloads: Generated<number>
  download_bytes: Generated<number>
}
