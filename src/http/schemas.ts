import { Type, type Static } from '@sinclair/typebox'
import type { JobRun, StoredFile } from '../db/metadata-store.js'
import type { CabinetStats, JobStatus } from '../domain/stats/stats-service.js'

export const ErrorSchema = Type.Object(
  {
    error: Type.String({ description: 'What went wrong, for people' }),
    code: Type.String({ description: 'Stable machine-readable code, e.g. FILE_NOT_FOUND' }),
  },
  { $id: 'Error', title: 'Error' },
)

export const FileSchema = Type.Object(
  {
    file_id: Type.String({ pattern: '^[0-9a-f]{32}$' }),
    download_url: Type.String({ description: 'Path of the download route; needs the same Authorization header' }),
    original_name: Type.String(),
    size: Type.Integer({ description: 'Bytes' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    mime_type: Type.String(),
    uploaded_at: Type.String({ format: 'date-time' }),
    pinned: Type.Boolean({ description: 'A pinned file never expires, whatever the retention' }),
  },
  { $id: 'File', title: 'File' },
)
export type FileJson = Static<typeof FileSchema>

export const FileIdParams = Type.Object({ id: Type.String({ description: 'The file_id returned by the upload' }) })

export function toFileJson(file: StoredFile): FileJson {
  return {
    file_id: file.id,
    download_url: `/api/files/${file.id}`,
    original_name: file.originalName,
    size: file.sizeBytes,
    sha256: file.sha256,
    mime_type: file.mimeType,
    uploaded_at: file.uploadedAt.toISOString(),
    pinned: file.pinned,
  }
}

/** Response schemas for the errors a route can answer with, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, { $ref: string }> {
  return Object.fromEntries(statuses.map((status) => [status, { $ref: 'Error#' }]))
}

export const bearerSecurity = [{ bearerAuth: [] }]

const Totals = { files: Type.Integer(), bytes: Type.Integer({ description: 'Bytes' }) }
const JobRunSchema = Type.Object({
  id: Type.String(),
  triggered_by: Type.Union([Type.Literal('schedule'), Type.Literal('cli')]),
  scheduled_for: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  started_at: Type.String({ format: 'date-time' }),
  finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  outcome: Type.Union(['running', 'succeeded', 'failed', 'skipped', 'interrupted'].map((o) => Type.Literal(o))),
  error: Type.Union([Type.String(), Type.Null()]),
  summary: Type.Unknown({ description: "The run's report: a clean-up's files and bytes before, removed and after; a backup's archive" }),
})
const JobStatusSchema = Type.Object({
  schedule: Type.Union([Type.String(), Type.Null()], { description: 'Cron expression; null when not scheduled' }),
  last: Type.Union([JobRunSchema, Type.Null()]),
  last_succeeded: Type.Union([JobRunSchema, Type.Null()]),
})

export const StatsSchema = Type.Object(
  {
    generated_at: Type.String({ format: 'date-time' }),
    files: Type.Object({ ...Totals, pinned: Type.Integer(), users: Type.Integer() }),
    by_type: Type.Array(Type.Object({ type: Type.String(), ...Totals })),
    top_users: Type.Array(Type.Object({ user_id: Type.String(), ...Totals }), { description: 'The 10 users storing the most bytes' }),
    largest_files: Type.Array(
      Type.Object({ file_id: Type.String(), user_id: Type.String(), original_name: Type.String(), size: Type.Integer(), uploaded_at: Type.String({ format: 'date-time' }) }),
    ),
    storage: Type.Object({
      used_bytes: Type.Integer({ description: 'File bytes plus the metadata database' }),
      metadata_bytes: Type.Union([Type.Integer(), Type.Null()]),
      disk_free_bytes: Type.Union([Type.Integer(), Type.Null()], { description: 'Null on object storage' }),
      min_free_bytes: Type.Integer(),
    }),
    per_day: Type.Array(
      Type.Object({ day: Type.String(), uploads: Type.Integer(), upload_bytes: Type.Integer(), downloads: Type.Integer(), download_bytes: Type.Integer() }),
      { description: 'The last 30 UTC days with traffic' },
    ),
    jobs: Type.Object({ cleanup: JobStatusSchema, backup: JobStatusSchema }),
  },
  { $id: 'Stats', title: 'Stats' },
)
export type StatsJson = Static<typeof StatsSchema>

function jobRunJson(run: JobRun | undefined): Static<typeof JobRunSchema> | null {
  if (!run) return null
  return {
    id: run.id,
    triggered_by: run.triggeredBy,
    scheduled_for: run.scheduledFor?.toISOString() ?? null,
    started_at: run.startedAt.toISOString(),
    finished_at: run.finishedAt?.toISOString() ?? null,
    outcome: run.outcome,
    error: run.error ?? null,
    summary: run.summary ?? null,
  }
}

export function toStatsJson(stats: CabinetStats): StatsJson {
  const job = (status: JobStatus) => ({ schedule: status.schedule ?? null, last: jobRunJson(status.last), last_succeeded: jobRunJson(status.lastSucceeded) })
  return {
    generated_at: stats.generatedAt.toISOString(),
    files: stats.files,
    by_type: stats.byType.map((t) => ({ type: t.type, files: t.files, bytes: t.bytes })),
    top_users: stats.topUsers.map((u) => ({ user_id: u.userId, files: u.files, bytes: u.bytes })),
    largest_files: stats.largest.map((f) => ({ file_id: f.id, user_id: f.userId, original_name: f.originalName, size: f.sizeBytes, uploaded_at: f.uploadedAt.toISOString() })),
    storage: {
      used_bytes: stats.storage.usedBytes,
      metadata_bytes: stats.storage.metadataBytes ?? null,
      disk_free_bytes: stats.storage.diskFreeBytes ?? null,
      min_free_bytes: stats.storage.minFreeBytes,
    },
    per_day: stats.perDay.map((d) => ({ day: d.day, uploads: d.uploads, upload_bytes: d.uploadBytes, downloads: d.downloads, download_bytes: d.downloadBytes })),
    jobs: { cleanup: job(stats.jobs.cleanup), backup: job(stats.jobs.backup) },
  }
}
