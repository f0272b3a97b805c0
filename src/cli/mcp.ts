import { once } from 'node:events'
import { openBlobStore } from '../blob/open-blob-store.js'
import { loadConfig } from '../config.js'
import { openMetadataStore } from '../db/open-metadata-store.js'
import { ApiKeyService } from '../domain/auth/api-key-service.js'
import { AuditLog } from '../domain/auth/audit-log.js'
import { FileAccess } from '../domain/auth/file-access.js'
import { GrantService } from '../domain/auth/grant-service.js'
import { keySpaceUserId, type Caller } from '../domain/auth/identity.js'
import { UrlSigner } from '../domain/auth/signed-url.js'
import { ExtractionPool } from '../domain/extraction/extraction-pool.js'
import { ExtractionService } from '../domain/extraction/extraction-service.js'
import { FileService } from '../domain/files/file-service.js'
import { FileSearch } from '../domain/search/file-search.js'
import { ERRORS } from '../errors.js'
import { loadUrlSecret } from '../url-secret.js'
import { commandLogger } from './operations-context.js'

/** EX_CONFIG and EX_NOPERM of sysexits.h. */
const EXIT_CONFIG = 78
const EXIT_NO_PERMISSION = 77

/**
 * `cabinet mcp`: Cabinet's MCP server over stdio, for an MCP client that spawns it (OpenClaw's
 * `mcp.servers`, Claude Desktop). It works on the configured storage directly, like the other
 * commands, so it needs the server's environment, and no server running. The API key comes from
 * CABINET_MCP_KEY, never from the command line, which other users of the machine can read; it is
 * checked again on every request, so revoking it stops a running session at once.
 */
export async function mcpCommand(args: string[]): Promise<number> {
  if (args.length > 0) {
    console.error('cabinet mcp takes no arguments: set CABINET_MCP_KEY to the API key (cabk_…) in its environment')
    return 2
  }
  const secret = process.env.CABINET_MCP_KEY
  if (!secret) {
    console.error('cabinet mcp: set CABINET_MCP_KEY to the API key it serves (cabinet key create --name … --scope files:read)')
    return EXIT_CONFIG
  }
  const config = loadConfig(process.env)
  const logger = commandLogger(process.env)
  const metadata = await openMetadataStore(config)
  const blobs = await openBlobStore(config).catch(async (error: unknown) => {
    await metadata.close()
    throw error
  })
  try {
    const keys = new ApiKeyService(metadata.apiKeys)
    const caller = async (): Promise<Caller> => {
      const key = await keys.verify(secret)
      if (!key) throw ERRORS.unauthorized('The API key in CABINET_MCP_KEY is invalid, expired or revoked')
      if (!key.scopes.includes('files:read')) throw ERRORS.scopeMissing('files:read')
      return {
        userId: keySpaceUserId(key.id),
        via: 'api-key',
        admin: key.scopes.includes('admin'),
        key: { id: key.id, name: key.name, scopes: key.scopes, allUsers: key.allUsers },
      }
    }
    try {
      await caller()
    } catch (error) {
      console.error(`cabinet mcp: ${(error as Error).message}`)
      return EXIT_NO_PERMISSION
    }

    const files = new FileService(metadata, blobs, config, logger)
    const audit = new AuditLog(metadata.audit)
    const grants = new GrantService(metadata.grants, files, keys, audit, { defaultTtlSeconds: config.grantTtlSeconds, maxTtlSeconds: config.grantMaxTtlSeconds })
    const access = new FileAccess(files, grants, audit, new FileSearch(metadata))
    // Only reads extractions: the pool never starts a worker here.
    const { extraction: limits } = config
    const pool = new ExtractionPool({ threads: 1, heapMb: limits.heapMb, timeoutMs: limits.timeoutMs, idleTimeoutMs: 1000 })
    const extraction = new ExtractionService(metadata, blobs, pool, { limits, maxFileBytes: limits.maxFileBytes }, logger)
    const urlSigner = new UrlSigner(await loadUrlSecret(config.urlSecret, metadata.settings))
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host

    const [{ createCabinetMcpServer }, { StdioServerTransport }] = await Promise.all([
      import('../mcp/cabinet-mcp-server.js'),
      import('@modelcontextprotocol/sdk/server/stdio.js'),
    ])
    const server = await createCabinetMcpServer({
      caller,
      origin: { ip: 'stdio' },
      access,
      files,
      extraction,
      urlSigner,
      publicUrl: config.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`,
      signedUrlTtlSeconds: config.signedUrlTtlSeconds,
      signedUrlMaxTtlSeconds: config.signedUrlMaxTtlSeconds,
      maxImageBytes: config.chat.maxImageBytes,
      logger,
    })
    await server.connect(new StdioServerTransport())
    // The client ends the session by closing stdin (or stopping the process).
    const stopped = new AbortController()
    const stop = () => stopped.abort()
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
    process.stdin.once('end', stop)
    process.stdin.once('close', stop)
    await once(stopped.signal, 'abort')
    await server.close()
    await pool.close()
    return 0
  } finally {
    await Promise.all([metadata.close(), blobs.close()])
  }
}
