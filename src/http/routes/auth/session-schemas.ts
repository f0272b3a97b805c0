import { Type } from '@sinclair/typebox'
import type { SignedIn } from '../../../domain/auth/session-service.js'

export const SessionSchema = Type.Object({
  token: Type.String({ description: 'Send as Authorization: Bearer <token>; store it (wx.setStorage) until it expires' }),
  expires_at: Type.String({ format: 'date-time' }),
  user_id: Type.String({ description: 'The stable Cabinet user id' }),
})

export function toSessionJson(session: SignedIn) {
  return { token: session.token, expires_at: session.expiresAt.toISOString(), user_id: session.userId }
}

/** Sign-in bodies are a few bytes; anything bigger is refused before parsing. */
export const SIGN_IN_BODY_LIMIT_BYTES = 4 * 1024
