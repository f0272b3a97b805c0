import type { FastifyRequest } from 'fastify'
import { isValidUserId, type Caller } from '../domain/auth/identity.js'
import type { TokenService } from '../domain/auth/token-service.js'
import { ERRORS } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `authenticate`; routes that run it may rely on it. */
    caller: Caller
  }
}

/** An onRequest hook: sets `request.caller` or throws 401. */
export type Authenticate = (request: FastifyRequest) => Promise<void>

/**
 * Establishes who is calling: a Bearer token, or (only when the operator trusts a
 * gateway in front) the design note's `x-user-id` header. Nothing else is believed.
 */
export function createAuthenticate(tokens: TokenService, options: { trustUserHeader: boolean }): Authenticate {
  return async (request) => {
    const authorization = request.headers.authorization
    if (authorization !== undefined) {
      const token = /^Bearer +(\S+)$/i.exec(authorization)?.[1]
      const record = token === undefined ? undefined : await tokens.verify(token)
      if (!record) throw ERRORS.unauthorized('The token is invalid, expired or revoked')
      request.caller = { userId: record.userId, via: 'token', admin: record.admin }
      return
    }
    const headerUser = request.headers['x-user-id']
    if (options.trustUserHeader && typeof headerUser === 'string' && isValidUserId(headerUser)) {
      request.caller = { userId: headerUser, via: 'trusted-header', admin: false }
      return
    }
    throw ERRORS.unauthorized()
  }
}

/**
 * An onRequest hook for the operator's routes (/api/admin/*): authenticates, then lets only an
 * admin caller through. No credentials: 401; a valid non-admin caller: 403 FORBIDDEN.
 */
export function requireAdmin(authenticate: Authenticate): Authenticate {
  return async (request) => {
    await authenticate(request)
    if (!request.caller.admin) throw ERRORS.forbidden()
  }
}
