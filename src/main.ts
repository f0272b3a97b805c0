import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import { LocalBlobStore } from './blob/local-blob-store.js'
import type { Config } from './config.js'
import { openMetadataStore } from './db/open-metadata-store.js'
import type { MetadataStore } from './db/metadata-store.js'
import type { BlobStore } from './blob/blob-store.js'
import { ApiKeyService } from './domain/auth/api-key-service.js'
import { AuditLog } from './domain/auth/audit-log.js'
import { FileAccess } from './domain/auth/file-access.js'
import { GrantService } from './domain/auth/grant-service.js'
import { SessionService } from './domain/auth/session-service.js'
import { UrlSigner } from './domain/auth/signed-url.js'
import { TokenService } from './domain/auth/token-service.js'
import { FileService } from './domain/files/file-service.js'
import { QuotaService } from './domain/users/quota-service.js'
import { JobRunner } from './jobs/job-runner.js'
import { RECOVER_INTERRUPTED, recoverInterruptedJob, scheduleRecovery } from './jobs/recover-interrupted.job.js'
import { loadUrlSecret } from './url-secret.js'
import { Jscode2SessionClient } from './wechat/jscode2session-client.js'

export { openMetadataStore }

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
  const files = new FileService(metadata, blobs, {
    ...config,
    quota: config.quota,
    redirectDownloads: config.blobs.kind === 's3' && config.blobs.redirectDownloads,
  }, logger)
  const tokens = new TokenService(metadata.tokens)
  const keys = new ApiKeyService(metadata.apiKeys)
  const audit = new AuditLog(metadata.audit)
  const grants = new GrantService(metadata.grants, files, keys, audit, {
    defaultTtlSeconds: config.grantTtlSeconds,
    maxTtlSeconds: config.grantMaxTtlSeconds,
  })
  const access = new FileAccess(files, grants, audit)
  const quotas = new QuotaService(metadata.users, config.quota)
  const { wechat } = config
  const wechatClient =
    wechat.appId && wechat.secret
      ? new Jscode2SessionClient({ apiBase: wechat.apiBase, appId: wechat.appId, secret: wechat.secret, timeoutMs: wechat.timeoutMs }, logger)
      : undefined
  const sessions = new SessionService(tokens, metadata.users, wechatClient, config, logger)
  const urlSigner = new UrlSigner(await loadUrlSecret(config.urlSecret, metadata.settings))
  const instanceId = `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(3).toString('hex')}`
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
    },
    pollIntervalMs: config.jobPollIntervalMs,
    leaseMs: config.jobLeaseMs,
    logger,
  })
  jobs.start()
  const stopRecovery = await scheduleRecovery(metadata.jobs, Math.min(config.uploadTimeoutMs, 5 * 60_000), logger)

  const app = await buildApp({
    config,
    logger,
    files,
    tokens,
    urlSigner,
    keys,
    access,
    grants,
    sessions,
    quotas,
    // One SQLite instance keeps its counters in memory; PostgreSQL instances share theirs.
    ...(metadata.dialect === 'postgres' ? { sharedRateLimits: metadata.rateLimits } : {}),
  })
  const address = await app.listen({ host: config.host, port: config.port })
  logger.info(
    { address, instanceId, database: config.database.kind, blobs: config.blobs.kind, dataDir: config.dataDir, trustUserHeader: config.trustUserHeader },
    'Cabinet is listening',
  )
  if (config.devLogin) {
    logger.warn(
      'CABINET_DEV_LOGIN=1: DEV SIGN-IN IS ON. Anyone who can reach POST /api/auth/dev can sign in as ANY user and read their files. Never run like this in production',
    )
  }
  if (config.trustUserHeader) logger.warn('CABINET_TRUST_USER_HEADER=1: x-user-id is believed; only run behind a gateway that sets it')

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      stopRecovery()
      await jobs.stop()
      const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs)
      await app.close()
      clearTimeout(force)
      await metadata.close()
      await blobs.close()
    })())
  return { app, address, instanceId, services: { metadata, files, tokens, keys, grants, audit, quotas }, stop }
}
