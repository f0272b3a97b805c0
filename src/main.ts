import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import type { Config } from './config.js'
import { openBlobStore } from './blob/open-blob-store.js'
import { openMetadataStore } from './db/open-metadata-store.js'
import type { MetadataStore } from './db/metadata-store.js'
import { ApiKeyService } from './domain/auth/api-key-service.js'
import { AuditLog } from './domain/auth/audit-log.js'
import { FileAccess } from './domain/auth/file-access.js'
import { GrantService } from './domain/auth/grant-service.js'
import { SessionService } from './domain/auth/session-service.js'
import { UrlSigner } from './domain/auth/signed-url.js'
import { TokenService } from './domain/auth/token-service.js'
import { ChatService } from './domain/chat/chat-service.js'
import { TurnBuilder } from './domain/chat/turn-builder.js'
import { ExtractionPool } from './domain/extraction/extraction-pool.js'
import { ExtractionService } from './domain/extraction/extraction-service.js'
import { FileService } from './domain/files/file-service.js'
import { FileSearch } from './domain/search/file-search.js'
import { ThumbnailService } from './domain/thumbnails/thumbnail-service.js'
import { QuotaService } from './domain/users/quota-service.js'
import { CATCH_UP_EXTRACTIONS, catchUpExtractionsJob, EXTRACT_FILE, extractFileJob, scheduleExtractionCatchUp } from './jobs/extract-file.job.js'
import { JobRunner } from './jobs/job-runner.js'
import { LoadMonitor } from './jobs/load-monitor.js'
import { operationsJobHandlers, scheduleOperations } from './jobs/operations.job.js'
import { RECOVER_INTERRUPTED, recoverInterruptedJob, scheduleRecovery } from './jobs/recover-interrupted.job.js'
import { BackupService } from './domain/backup/backup-service.js'
import type { ExclusiveRunDeps } from './domain/operations/exclusive-run.js'
import { RetentionCleanup } from './domain/retention/retention-cleanup.js'
import { Readiness, StatsService } from './domain/stats/stats-service.js'
import { TrafficRecorder } from './domain/stats/traffic-recorder.js'
import { Metrics } from './metrics.js'
import { loadUrlSecret } from './url-secret.js'
import { Jscode2SessionClient } from './wechat/jscode2session-client.js'
import { createAgentClient } from './agent/create-agent-client.js'

// Kept importable from here; they live beside their adapters so that commands can open storage without the server.
export { openBlobStore, openMetadataStore }

/** How often an instance adds its upload/download counts to the shared daily table. */
const TRAFFIC_FLUSH_INTERVAL_MS = 5_000

/** Extraction worker threads end after this long without work, giving their memory back. */
const EXTRACT_IDLE_MS = 15_000

/** How long the server believes a verified token before asking the database again. */
const TOKEN_CACHE_MS = 1000

export interface RunningServer {
  readonly app: FastifyInstance
  readonly address: string
  /** This process's name in job leases and logs. */
  readonly instanceId: string
  readonly services: {
    readonly metadata: MetadataStore
    readonly files: FileService
    readonly tokens: TokenService
    readonly keys: ApiKeyService
    readonly grants: GrantService
    readonly audit: AuditLog
    readonly quotas: QuotaService
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
  const metrics = new Metrics()
  const traffic = new TrafficRecorder(metadata.traffic, { flushIntervalMs: TRAFFIC_FLUSH_INTERVAL_MS, logger })
  const instanceId = `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(3).toString('hex')}`
  const { extraction: limits } = config
  const extractionPool = new ExtractionPool({ threads: limits.threads, heapMb: limits.heapMb, timeoutMs: limits.timeoutMs, idleTimeoutMs: EXTRACT_IDLE_MS })
  const extraction = new ExtractionService(metadata, blobs, extractionPool, { limits, maxFileBytes: limits.maxFileBytes }, logger)
  const thumbnails = new ThumbnailService(metadata.derivedBlobs, blobs, metadata.locks, {
    sizes: config.thumbnailSizes,
    timeoutMs: limits.timeoutMs,
    concurrency: limits.threads,
    instanceId,
  }, logger)
  const files = new FileService(metadata, blobs, {
    ...config,
    quota: config.quota,
    redirectDownloads: config.blobs.kind === 's3' && config.blobs.redirectDownloads,
    transfers: {
      uploaded(bytes) {
        metrics.uploaded(bytes)
        traffic.uploaded(bytes)
      },
      downloaded(bytes) {
        metrics.downloaded(bytes)
        traffic.downloaded(bytes)
      },
    },
    lifecycle: {
      extractionJob: (fileId) => extraction.jobFor(fileId),
      uploaded: () => extractionJobs.wake(),
    },
  }, logger)
  // Every request checks its token: believe a verified one for a second (revocations elsewhere take effect within it).
  const tokens = new TokenService(metadata.tokens, undefined, { cacheMs: TOKEN_CACHE_MS })
  const keys = new ApiKeyService(metadata.apiKeys)
  const audit = new AuditLog(metadata.audit)
  const grants = new GrantService(metadata.grants, files, keys, audit, {
    defaultTtlSeconds: config.grantTtlSeconds,
    maxTtlSeconds: config.grantMaxTtlSeconds,
  })
  const search = new FileSearch(metadata)
  const access = new FileAccess(files, grants, audit, search)
  const quotas = new QuotaService(metadata.users, config.quota)
  const chat = new ChatService(
    metadata.conversations,
    access,
    extraction,
    grants,
    keys,
    new TurnBuilder(blobs, config.chat, logger),
    createAgentClient(config.agent, logger),
    { ...config.chat, agentKey: config.agent.keyName },
    logger,
  )
  const { wechat } = config
  const wechatClient =
    wechat.appId && wechat.secret
      ? new Jscode2SessionClient({ apiBase: wechat.apiBase, appId: wechat.appId, secret: wechat.secret, timeoutMs: wechat.timeoutMs }, logger)
      : undefined
  const sessions = new SessionService(tokens, metadata.users, wechatClient, config, logger)
  const urlSigner = new UrlSigner(await loadUrlSecret(config.urlSecret, metadata.settings))
  const exclusive: ExclusiveRunDeps = {
    locks: metadata.locks,
    jobRuns: metadata.jobRuns,
    instance: instanceId,
    lockTtlMs: config.jobLeaseMs,
    logger,
    onFinished: (job, outcome) => metrics.jobFinished(job, outcome),
  }
  const schedules = { cleanup: config.cleanupSchedule, backup: config.backupSchedule }
  const operations = operationsJobHandlers(
    exclusive,
    {
      cleanup: (signal) => new RetentionCleanup(metadata, files, logger).run({ retentionMs: config.retentionMs, dryRun: false, signal }),
      backup: (signal) => new BackupService(metadata, blobs, logger).create({ dir: config.backupDir, retentionMs: config.backupRetentionMs, signal }),
    },
    (['cleanup', 'backup'] as const).filter((job) => schedules[job] !== undefined),
  )
  const jobs = new JobRunner(metadata.jobs, {
    workerId: instanceId,
    handlers: {
      [RECOVER_INTERRUPTED]: recoverInterruptedJob({
        files,
        blobs,
        jobs: metadata.jobs,
        uploadTimeoutMs: config.uploadTimeoutMs,
        logger,
        audit,
        auditRetentionDays: config.auditRetentionDays,
        rateLimits: metadata.rateLimits,
      }),
      ...operations,
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
  const stopSchedules = scheduleOperations(metadata.jobs, schedules, logger)
  traffic.start()

  const stats = new StatsService(metadata, blobs, { minFreeBytes: config.minFreeBytes, schedules, recorder: traffic })
  const readiness = new Readiness(metadata, blobs, { dataDir: config.dataDir, minFreeBytes: config.minFreeBytes })
  const app = await buildApp({
    config,
    logger,
    files,
    extraction,
    thumbnails,
    search,
    tokens,
    urlSigner,
    keys,
    access,
    grants,
    sessions,
    quotas,
    chat,
    stats,
    readiness,
    metrics,
    // One SQLite instance keeps its counters in memory; PostgreSQL instances share theirs.
    ...(metadata.dialect === 'postgres' ? { sharedRateLimits: metadata.rateLimits } : {}),
  })
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
  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      stopRecovery()
      stopSchedules()
      stopCatchUp()
      load.close()
      await Promise.all([jobs.stop(), extractionJobs.stop()])
      await extractionPool.close()
      const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs)
      await app.close()
      clearTimeout(force)
      await traffic.stop()
      await metadata.close()
      await blobs.close()
    })())
  let address: string
  try {
    address = await app.listen({ host: config.host, port: config.port })
  } catch (error) {
    // A port already taken (another instance) must end the process, not leave its job runners working.
    await stop()
    throw error
  }
  logger.info(
    {
      address,
      instanceId,
      database: config.database.kind,
      blobs: config.blobs.kind,
      dataDir: config.dataDir,
      trustUserHeader: config.trustUserHeader,
      // Where chats go, never with the agent's token.
      agent: config.agent.url ? `${config.agent.protocol} at ${new URL(config.agent.url).host}` : 'none',
    },
    'Cabinet is listening',
  )
  if (config.devLogin) {
    logger.warn(
      'CABINET_DEV_LOGIN=1: DEV SIGN-IN IS ON. Anyone who can reach POST /api/auth/dev can sign in as ANY user and read their files. Never run like this in production',
    )
  }
  if (config.trustUserHeader) logger.warn('CABINET_TRUST_USER_HEADER=1: x-user-id is believed; only run behind a gateway that sets it')

  return { app, address, instanceId, services: { metadata, files, tokens, keys, grants, audit, quotas, extraction, thumbnails, extractionPool }, stop }
}
