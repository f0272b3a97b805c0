import type { FastifyRequest } from 'fastify'
import type { ApiKeyRecord, ApiKeyScope } from '../db/metadata-store.js'
import { looksLikeApiKey, type ApiKeyService } from '../domain/auth/api-key-service.js'
import { isPersonUserId, keySpaceUserId, type Caller } from '../domain/auth/identity.js'
import type { TokenService } from '../domain/auth/token-service.js'
import { ERRORS } from '../errors.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `authenticate`; routes that run it may rely on it. */
    caller: Caller
  }
  interface FastifyContextConfig {
    /**
     * What an API key needs to use this route: a scope, `'any'` (any valid key), or `false` (users
     * only). Unset: `admin` under /api/admin/, `chat` under /api/chat, else `files:read` for GET
     * and HEAD and `files:write` for everything else.
     */
    keyScope?: ApiKeyScope | 'any' | false
  }
}

/** An onRequest hook: sets `request.caller` or throws 401 (403 for an API key without the route's scope). */
export type Authenticate = (request: FastifyRequest) => Promise<void>

function requiredKeyScope(request: FastifyRequest): ApiKeyScope | 'any' | false {
  const configured = request.routeOptions.config.keyScope
  if (configured !== undefined) return configured
  const url = request.routeOptions.url ?? ''
  if (url.startsWith('/api/admin/')) return 'admin'
  if (url === '/api/chat' || url.startsWith('/api/chat/')) return 'chat'
  return request.method === 'GET' || request.method === 'HEAD' ? 'files:read' : 'files:write'
}

function keyCaller(request: FastifyRequest, key: ApiKeyRecord): Caller {
  const scope = requiredKeyScope(request)
  if (scope === false) throw ERRORS.keyNotAllowed()
  if (scope !== 'any' && !key.scopes.includes(scope)) throw ERRORS.scopeMissing(scope)
  return {
    userId: keySpaceUserId(key.id),
    via: 'api-key',
    admin: key.scopes.includes('admin'),
    key: { id: key.id, name: key.name, scopes: key.scopes, allUsers: key.allUsers },
  }
}

/**
 * Establishes who is calling: a Bearer token (a user's, or an API key `cabk_…`), or (only when the
 * operator trusts a gateway in front) the design note's `x-user-id` header. Nothing else is believed.
 */
export function createAuthenticate(tokens: TokenService, keys: ApiKeyService, options: { trustUserHeader: boolean }): Authenticate {
  return async (request) => {
    const authorization = request.headers.authorization
    if (authorization !== undefined) {
      const credential = /^Bearer +(\S+)$/i.exec(authorization)?.[1]
      if (credential !== undefined && looksLikeApiKey(credential)) {
        const key = await keys.verify(credential)
        if (!key) throw ERRORS.unauthorized('The API key is invalid, expired or revoked')
        request.caller = keyCaller(request, key)
        return
      }
      const record = credential === undefined ? undefined : await tokens.verify(credential)
      if (!record) throw ERRORS.unauthorized('The token is invalid, expired or revoked')
      request.caller = { userId: record.userId, via: 'token', admin: record.admin, tokenId: record.id }
      return
    }
    const headerUser = request.headers['x-user-id']
    if (options.trustUserHeader && typeof headerUser === 'string' && isPersonUserId(headerUser)) {
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
