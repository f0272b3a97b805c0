import { Type } from '@sinclair/typebox'
import type { Grant } from '../../../domain/auth/grant-service.js'

export const GrantSchema = Type.Object(
  {
    grant_id: Type.String(),
    file_id: Type.String(),
    key_id: Type.String(),
    key_name: Type.Union([Type.String(), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
    expires_at: Type.String({ format: 'date-time' }),
    revoked_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    active: Type.Boolean({ description: 'Neither expired nor revoked' }),
  },
  { $id: 'Grant', title: 'Grant' },
)

export function toGrantJson(grant: Grant, now = new Date()) {
  return {
    grant_id: grant.id,
    file_id: grant.fileId,
    key_id: grant.keyId,
    key_name: grant.keyName ?? null,
    created_at: grant.createdAt.toISOString(),
    expires_at: grant.expiresAt.toISOString(),
    revoked_at: grant.revokedAt?.toISOString() ?? null,
    active: !grant.revokedAt && grant.expiresAt.getTime() > now.getTime(),
  }
}
