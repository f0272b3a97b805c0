import type { ApiKeyScope } from '../../db/metadata-store.js'

/** User ids come from tokens, WeChat or a trusted gateway; this is the shape Cabinet accepts from any of them. */
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/

/** The user-id space of API keys' own files (`key:<key id>`); no person can sign in as one. */
const KEY_SPACE_PREFIX = 'key:'

export function isValidUserId(value: string): boolean {
  return USER_ID.test(value)
}

/** A user id a person may sign in as: valid, and not an API key's own space. */
export function isPersonUserId(value: string): boolean {
  return isValidUserId(value) && !value.startsWith(KEY_SPACE_PREFIX)
}

/** Where the files an API key uploads live: a user id of its own that no person can take. */
export function keySpaceUserId(keyId: string): string {
  return `${KEY_SPACE_PREFIX}${keyId}`
}

/** The API key behind a caller, as authenticated. */
export interface KeyIdentity {
  readonly id: string
  readonly name: string
  readonly scopes: readonly ApiKeyScope[]
  /** Reads every user's files, not only those granted to it. */
  readonly allUsers: boolean
}

/** Who is calling, established by the HTTP layer before any domain call. */
export interface Caller {
  /**
   * Whose files the caller works on: the user for a token or trusted header; for an API key, the key's
   * own space (`key:<id>`), where its uploads go. A key reads other users' files only through grants
   * (or `allUsers`), never through this id.
   */
  readonly userId: string
  /** How the identity was established, for logs. */
  readonly via: 'token' | 'trusted-header' | 'api-key'
  /** May use the operator's routes: a token issued with `--admin`, or an API key with the `admin` scope. */
  readonly admin: boolean
  /** The bearer token's id (never its secret), so that sign-out can revoke it; only for `via: 'token'`. */
  readonly tokenId?: string
  /** Only for `via: 'api-key'`. */
  readonly key?: KeyIdentity
}

/** Where a request came from, for the audit log. */
export interface RequestOrigin {
  /** The client's address (from X-Forwarded-For only with CABINET_TRUST_PROXY=1). */
  readonly ip: string
}
