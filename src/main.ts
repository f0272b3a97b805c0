import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import { LocalBlobStore } from './blob/local-blob-store.js'
import type { Config } from './config.js'
import { KyselyMetadataStore } from './db/kysely-metadata-store.js'
import type { MetadataStore } from './db/metadata-store.js'
import type { BlobStore } from './blob/blob-store.js'
import { UrlSigner } from './domain/auth/signed-url.js'
import { TokenService } from './domain/auth/token-service.js'
import { ExtractionPool } from './domain/extraction/extraction-pool.js'
import { ExtractionService } from './domain/extraction/extraction-service.js'
import { FileService } from './domain/files/file-service.js'
import { FileSearch } from './domain/search/file-search.js'
import { ThumbnailService } from './domain/thumbnails/thumbnail-service.js'
import { CATCH_UP_EXTRACTIONS, catchUpExtractionsJob, EXTRACT_FILE, extractFileJob, scheduleExtractionCatchUp } from './jobs/extract-file.job.js'
import { JobRunner } from './jobs/job-runner.js'
import { LoadMonitor } from './jobs/load-monitor.js'
import { RECOVER_INTERRUPTED, recoverInterruptedJob, scheduleRecovery } from './jobs/recover-interrupted.job.js'
import { loadUrlSecret } from './url-secret.js'

/** The metadata adapter the configuration names; migrations run on open. */
export async function openMetadataStore(config: Pick<Config, 'database'>): Promise<KyselyMetadataStore> {
  const { database } = config
  return database.kind === 'postgres'
    ? KyselyMetadataStore.openPostgres(database.url, { poolMax: database.poolMax })
    : KyselyMetadataStore.openSqlite(database.path)
}

/** The blob adapter the configuration names. */
export async function openBlobStore(config: Pick<Config, 'blobs'>): Promise<BlobStore> {
  const { blobs } = config
  if (blobs.kind === 'local') return LocalBlobStore.create({ rootDir: blobs.rootDir })
  // Loaded only when used: the AWS SDK alone adds about 30 MB to every process.
  const { S3BlobStore } = await import('./blob/s3-blob-store.js')
  return S3BlobStore.create({
    region: blobs.region,
    bucket: blobs.bucket,
    accessKeyId: blobs.accessKeyId,
    secretAccessKey: blobs.secretAccessKey,
    forcePathStyle: blobs.forcePathStyle,
    ...(blobs.endpoint ? { endpoint: blobs.endpoint } : {}),
  })
}

/** Extraction worker threads end after this long without work, giving their memory back. */
const EXTRACT_IDLE_MS = 15_000

export interface RunningServer {
  readonly app: FastifyInstance
  readonly address: string
  /** This process's name in job leases and logs. */
  readonly instanceId: string
  readonly services: {
    readonly metadata: MetadataStore
    readonly files: FileService
    readonly tokens: TokenService
    readonly extraction: ExtractionService
    readonly thumbnails: ThumbnailService
    readonly extractionPool: ExtractionPool
  }
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then releases everything. */
  stop(): Promise<void>
}

/** Wires the configured adapters into the services and starts listening. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const metadata = await openMetadataStore(config)
  const blobs = await openBlobStore(config).catch(async (error: unknown) => {
    await metadata.close()
    throw error
  })
  const instanceId = `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(3).toString('hex')}`
  const { extraction: limits } = config
  const extractionPool = new ExtractionPool({ threads: limits.threads, heapMb: limits.heapMb, timeoutMs: limits.timeoutMs, idleTimeoutMs: EXTRACT_IDLE_MS })
  const extraction = new ExtractionService(metadata, blobs, extractionPool, { limits }, logger)
  const thumbnails = new ThumbnailService(metadata.derivedBlobs, blobs, metadata.locks, {
    sizes: config.thumbnailSizes,
    timeoutMs: limits.timeoutMs,
    concurrency: limits.threads,
    instanceId,
  }, logger)
  const files = new FileService(metadata, blobs, {
    ...config,
    redirectDownloads: config.blobs.kind === 's3' && config.blobs.redirectDownloads,
    lifecycle: {
      extractionJob: (fileId) => extraction.jobFor(fileId),
      uploaded: () => extractionJobs.wake(),
      removeDerived: (fileId) => thumbnails.removeAllFor(fileId),
    },
  }, logger)
  const tokens = new TokenService(metadata.tokens)
  const urlSigner = new UrlSigner(await loadUrlSecret(config.urlSecret, metadata.settings))
  const jobs = new JobRunner(metadata.jobs, {
    workerId: instanceId,
    handlers: {
      [RECOVER_INTERRUPTED]: recoverInterruptedJob({ files, blobs, jobs: metadata.jobs, uploadTimeoutMs: config.uploadTimeoutMs, logger }),
      [CATCH_UP_EXTRACTIONS]: catchUpExtractionsJob(extraction),
    },
    pollIntervalMs: config.jobPollIntervalMs,
    leaseMs: config.jobLeaseMs,
    logger,
  })
  jobs.start()
  const recoveryEveryMs = Math.min(config.uploadTimeoutMs, 5 * 60_000)
  const stopRecovery = await scheduleRecovery(metadata.jobs, recoveryEveryMs, logger)
  const stopCatchUp = await scheduleExtractionCatchUp(metadata.jobs, recoveryEveryMs, logger)

  const app = await buildApp({ config, logger, files, extraction, thumbnails, search: new FileSearch(metadata), tokens, urlSigner })
  // Extraction is background work: while requests keep the event loop busy, it waits (up to a second per job).
  const load = new LoadMonitor(app.server)
  const extractionJobs = new JobRunner(metadata.jobs, {
    workerId: `${instanceId.slice(0, 56)}:x`,
    handlers: { [EXTRACT_FILE]: extractFileJob(extraction) },
    pollIntervalMs: config.jobPollIntervalMs,
    leaseMs: config.jobLeaseMs,
    // One slot more than worker threads, so image and text files go on while a PDF is parsed.
    concurrency: limits.threads + 1,
    yieldWhileBusy: { isBusy: () => load.isBusy(), maxWaitMs: 1000 },
    logger,
  })
  extractionJobs.start()
  const address = await app.listen({ host: config.host, port: config.port })
  logger.info(
    { address, instanceId, database: config.database.kind, blobs: config.blobs.kind, dataDir: config.dataDir, trustUserHeader: config.trustUserHeader },
    'Cabinet is listening',
  )
  if (config.trustUserHeader) logger.warn('CABINET_TRUST_USER_HEADER=1: x-user-id is believed; only run behind a gateway that sets it')

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      stopRecovery()
      stopCatchUp()
      load.close()
      await Promise.all([jobs.stop(), extractionJobs.stop()])
      await extractionPool.close()
      const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs)
      await app.close()
      clearTimeout(force)
      await metadata.close()
      await blobs.close()
    })())
  return { app, address, instanceId, services: { metadata, files, tokens, extraction, thumbnails, extractionPool }, stop }
}
