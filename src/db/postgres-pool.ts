import type { Pool, PoolClient, QueryConfig } from 'pg'
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import { isNetworkError } from '../outages.js'
import { MetadataStoreUnavailableError } from './metadata-store.js'

/** PostgreSQL's SQLSTATEs for a server that cannot serve now: shutting down, starting up, out of connections. */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300'])
/** pg's own messages for a connection lost or never made, or a statement unanswered past its limit (they carry no code). */
const NO_ANSWER = /^Connection terminated|^timeout exceeded when trying to connect|^Client has encountered a connection error|^Query read timeout/

function isUnavailable(error: unknown): boolean {
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; message?: unknown }
  if (isNetworkError(code) || (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08')))) return true
  return typeof message === 'string' && NO_ANSWER.test(message)
}

function translate(error: unknown): unknown {
  return isUnavailable(error) ? new MetadataStoreUnavailableError(`PostgreSQL is unavailable: ${(error as Error).message}`, error) : error
}

export interface StatementLimits {
  /** A statement not answered after this long fails, and its connection is dropped; undefined: no limit. */
  timeoutMs: number | undefined
}

/**
 * Kysely's view of a pg Pool in which a lost or refused connection, or a statement the server does not
 * answer within `limits.timeoutMs`, rejects with MetadataStoreUnavailableError.
 */
export function poolReportingOutages(pool: Pool, limits: StatementLimits = { timeoutMs: undefined }): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client: PoolClient = await pool.connect().catch((error: unknown) => {
        throw translate(error)
      })
      // pg emits a connection lost while a client is checked out (say, between two statements of a
      // transaction) as an 'error' event, which unheard would crash the process. The statement
      // running, or the next one, rejects with it; on release the pool drops the broken client.
      const ignoreLostConnection = () => {}
      client.on('error', ignoreLostConnection)
      // A connection that lost its server, or left a statement unanswered, is not given out again.
      let broken = false
      return {
        // Kysely uses only this form of query (no cursors are configured).
        query: (<R>(text: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> =>
          // pg reads query_timeout from the statement's config too; its types leave it out.
          client.query({ text, values: parameters as unknown[], query_timeout: limits.timeoutMs } as QueryConfig).then(
            (result) => result as unknown as PostgresQueryResult<R>,
            (error: unknown) => {
              const failure = translate(error)
              broken ||= failure instanceof MetadataStoreUnavailableError
              throw failure
            },
          )) as PostgresPoolClient['query'],
        release: (destroy?: boolean) => {
          client.off('error', ignoreLostConnection)
          client.release(destroy || broken)
        },
      }
    },
    end: () => pool.end(),
  }
}
