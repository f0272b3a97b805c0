/** Node's codes for a connection that could not be made, or broke. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
])

/** Whether an error's `code` says the connection to a server could not be made, or broke. */
export function isNetworkError(code: unknown): boolean {
  return typeof code === 'string' && NETWORK_ERROR_CODES.has(code)
}

/**
 * A backend Cabinet stores in (the database, the file store) cannot serve now: unreachable, a
 * dropped connection, or its own word that it is unavailable. Nothing is wrong with the request,
 * and a retry may succeed. Adapters throw subclasses that name the backend.
 */
export class BackendUnavailableError extends Error {}
