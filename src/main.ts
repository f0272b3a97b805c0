import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import { LocalBlobStore } from './blob/local-blob-store.js'
import type { Config } from './config.js'
import { KyselyMetadataStore } from './db/kysely-metadata-store.js'
import type { MetadataStore } from './db/metadata-store.js'
import { UrlSigner } from './domain/auth/signed-url.js'
import { TokenService } from './domain/auth/token-service.js'
import { FileService } from './domain/files/file-service.js'
import { startRecoveryJob } from './jobs/recover-interrupted.job.js'
import { loadUrlSecret } from './url-secret.js'

export async function openMetadataStore(config: Config): Promise<MetadataStore> {
  return KyselyMetadataStore.openSqlite(config.sqlitePath)
}

export interface RunningServer {
  readonly app: FastifyInstance
  readonly address: string
  readonly services: { readonly metadata: MetadataStore; readonly files: FileService; readonly tokens: TokenService }
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then releases everything. */
  stop(): Promise<void>
}

/** Wires the configured adapters into the services and starts listening. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const blobs = await LocalBlobStore.create({ rootDir: config.dataDir })
  const metadata = await openMetadataStore(config)
  const files = new FileService(metadata, blobs, config, logger)
  const tokens = new TokenService(metadata.tokens)
  const urlSigner = new UrlSigner(await loadUrlSecret(config.urlSecret, config.dataDir))
  const stopRecovery = await startRecoveryJob({ files, localBlobs: blobs, uploadTimeoutMs: config.uploadTimeoutMs, logger })

  const app = await buildApp({ config, logger, files, tokens, urlSigner })
  const address = await app.listen({ host: config.host, port: config.port })
  logger.info({ address, dataDir: config.dataDir, trustUserHeader: config.trustUserHeader }, 'Cabinet is listening')
  if (config.trustUserHeader) logger.warn('CABINET_TRUST_USER_HEADER=1: x-user-id is believed; only run behind a gateway that sets it')

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      stopRecovery()
      const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs)
      await app.close()
      clearTimeout(force)
      await metadata.close()
      await blobs.close()
    })())
  return { app, address, services: { metadata, files, tokens }, stop }
}
