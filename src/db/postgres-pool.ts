import type { Pool, PoolClient } from 'pg'
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import { isNetworkError } from '../outages.js'
import { MetadataStoreUnavailableError } from './metadata-store.js'

/** PostgreSQL's SQLSTATEs for a server that cannot serve now: shutting down, starting up, out of connections. */
const UNAVAILABLE_SQLSTATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300'])
/** pg's own messages for a connection lost or never made (they carry no code). */
const LOST_CONNECTION = /^Connection terminated|^timeout exceeded when trying to connect|^Client has encountered a connection error/

function isUnavailable(error: unknown): boolean {
  const { code, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; message?: unknown }
  if (isNetworkError(code) || (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08')))) return true
  return typeof message === 'string' && LOST_CONNECTION.test(message)
}

function translate(error: unknown): unknown {
  return isUnavailable(error) ? new MetadataStoreUnavailableError(`PostgreSQL is unavailable: ${(error as Error).message}`, error) : error
}

/** Kysely's view of a pg Pool in which a lost or refused connection rejects with MetadataStoreUnavailableError. */
export function poolReportingOutages(pool: Pool): PostgresPool {
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
      return {
        // Kysely uses only this form of query (no cursors are configured).
        query: (<R>(text: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> =>
          client.query(text, parameters as unknown[]).then(
            (result) => result as unknown as PostgresQueryResult<R>,
            (error: unknown) => {
              throw translate(error)
            },
          )) as PostgresPoolClient['query'],
        release: (destroy?: boolean) => {
          client.off('error', ignoreLostConnection)
          client.release(destroy)
        },
      }
    },
    end: () => pool.end(),
  }
}
