import { Type, type Static } from '@sinclair/typebox'
import type { StoredFile } from '../db/metadata-store.js'

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
