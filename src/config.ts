import { resolve } from 'node:path'
import { Cron } from 'croner'
import { z } from 'zod'
import { kindOfExtension, KNOWN_EXTENSIONS } from './domain/files/file-types.js'
import { parseDurationMs } from './duration.js'

const MIB = 1024 * 1024

/** Everything Cabinet reads from its environment, parsed once at start. */
/** Where metadata lives: the embedded SQLite file, or a PostgreSQL server several instances share. */
export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | {
      readonly kind: 'postgres'
      readonly url: string
      readonly poolMax: number
      /** A statement unanswered for this long (a new connection: at most 10 s) fails as unavailable. */
      readonly timeoutMs: number
    }

/** Where file bytes live: the local disk under the data dir, or an S3-compatible bucket. */
export type BlobConfig =
  | { readonly kind: 'local'; readonly rootDir: string }
  | {
      readonly kind: 's3'
      /** Omit for AWS itself; e.g. https://cos.ap-shanghai.myqcloud.com or http://127.0.0.1:9000 otherwise. */
      readonly endpoint: string | undefined
      readonly region: string
      readonly bucket: string
      readonly accessKeyId: string
      readonly secretAccessKey: string
      readonly forcePathStyle: boolean
      /** Answer downloads with a redirect to a presigned URL, so the bytes skip Cabinet. */
      readonly redirectDownloads: boolean
      /** A request to S3 that sends or receives nothing for this long fails (and is retried). */
      readonly requestTimeoutMs: number
    }

export interface Config {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly database: DatabaseConfig
  readonly blobs: BlobConfig
  readonly maxFileBytes: number
  /** Lower-cased extensions accepted for upload, e.g. `jpg`, `pdf`. */
  readonly allowedExtensions: readonly string[]
  /** Uploads are refused (507) when the blob store would fall below this many free bytes. */
  readonly minFreeBytes: number
  /** Honour the design note's `x-user-id` header; only behind a gateway that sets it itself. */
  readonly trustUserHeader: boolean
  /** Honour X-Forwarded-* from a reverse proxy such as nginx. */
  readonly trustProxy: boolean
  /** HMAC secret for signed URLs; when unset, generated once and kept in the metadata database. */
  readonly urlSecret: string | undefined
  /** Origin used to build absolute signed URLs, e.g. `https://files.example.com`; else taken from the request. */
  readonly publicUrl: string | undefined
  readonly signedUrlTtlSeconds: number
  readonly signedUrlMaxTtlSeconds: number
  /** How long one upload request may take; pending uploads older than this are abandoned and cleaned. */
  readonly uploadTimeoutMs: number
  /** How often an idle instance looks for queued background jobs. */
  readonly jobPollIntervalMs: number
  /** A running job's lease, renewed at a third of it; a job whose instance died is taken over once it lapses. */
  readonly jobLeaseMs: number
  /** How long shutdown waits for in-flight requests before closing them. */
  readonly shutdownGraceMs: number
  /** Limits of text extraction (see ExtractionLimits) and its worker threads. */
  readonly extraction: ExtractionConfig
  /** Longest side in pixels of each thumbnail size offered; the first is the default. */
  readonly thumbnailSizes: readonly number[]
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** How long a file is kept after upload unless its owner has their own retention or it is pinned; undefined: forever. */
  readonly retentionMs: number | undefined
  /** Cron expression (server's local time) for the retention clean-up; undefined: not scheduled. */
  readonly cleanupSchedule: string | undefined
  /** Cron expression for the backup; undefined: not scheduled. */
  readonly backupSchedule: string | undefined
  /** Where `cabinet backup` and scheduled backups write their archives (a local folder on every backend). */
  readonly backupDir: string
  /** Archives older than this are removed after each successful backup. */
  readonly backupRetentionMs: number
  /** Where `cabinet verify --repair` moves what it is unsure of, instead of deleting it. */
  readonly quarantineDir: string
  /** When set, GET /metrics needs `Authorization: Bearer <this>`; else it is open (keep it off the Internet at nginx). */
  readonly metricsToken: string | undefined
  /** Lifetime of a token issued by a sign-in (WeChat or dev). */
  readonly sessionTtlSeconds: number
  /** `POST /api/auth/dev` signs anyone in as any user: for trying Cabinet out only. */
  readonly devLogin: boolean
  readonly wechat: WechatConfig
  /** Default per-user limits; undefined: no limit. Users may have their own (`cabinet user set-quota`). */
  readonly quota: { readonly maxBytes: number | undefined; readonly maxFiles: number | undefined }
  /** Lifetime of a grant whose request names none, and the longest one a user may ask for. */
  readonly grantTtlSeconds: number
  readonly grantMaxTtlSeconds: number
  readonly rateLimits: RateLimitConfig
  /** Origins allowed to call Cabinet from a browser; undefined: CORS off (Mini Programs need none). */
  readonly corsOrigins: readonly string[] | undefined
  /** Audit entries older than this are purged; 0 keeps them forever. */
  readonly auditRetentionDays: number
  /** The AI agent that `POST /api/chat` hands messages and files to; without a URL, Cabinet answers from its own extraction. */
  readonly agent: AgentConfig
  readonly chat: ChatConfig
}

/** Which protocol the agent speaks: OpenClaw's OpenResponses-style `POST /v1/responses`, or OpenAI Chat Completions. */
export type AgentProtocol = 'openresponses' | 'chat-completions'

export interface AgentConfig {
  /** The agent's base URL, e.g. `http://127.0.0.1:18789` (an OpenClaw gateway); undefined: no agent. No trailing slash. */
  readonly url: string | undefined
  /** Sent as `Authorization: Bearer`. A server-side secret (operator access to a gateway): never logged, never answered. */
  readonly token: string | undefined
  readonly protocol: AgentProtocol
  /** `model` of every request, e.g. `openclaw/main` (OpenClaw: `openclaw/<agentId>`). */
  readonly model: string
  /** Longest wait for the agent's answer to begin, and between two pieces of a streamed answer; past it, 504 AGENT_TIMEOUT. */
  readonly timeoutMs: number
  /** Name or id of the API key the agent calls Cabinet back with (MCP); files attached to a chat are granted to it. */
  readonly keyName: string | undefined
}

/** Limits of `POST /api/chat` and of what it sends to the agent (defaults: OpenClaw's gateway defaults). */
export interface ChatConfig {
  readonly maxMessageChars: number
  /** Files one conversation may hold (those still there). */
  readonly maxAttachments: number
  /** Characters of extracted text sent per turn, over every file (and the history); the rest is cut, saying so. */
  readonly maxTextChars: number
  /** Largest document sent in its own bytes (a PDF without text). */
  readonly maxFileBytes: number
  /** Largest image sent; larger ones are downsized. */
  readonly maxImageBytes: number
  /** Largest request body sent to the agent (base64 included). */
  readonly maxBodyBytes: number
  /** How long a chat waits for its files' extraction before it goes on without the pending ones. */
  readonly extractionWaitMs: number
  /** Lifetime of the grant that lets the agent's key read an attached file. */
  readonly grantTtlSeconds: number
}

/** WeChat sign-in (jscode2session); off until both the app id and the secret are set. */
export interface WechatConfig {
  readonly appId: string | undefined
  readonly secret: string | undefined
  /** `https://api.weixin.qq.com`, or a stand-in's URL in tests. */
  readonly apiBase: string
  /** How long one call to WeChat may take before the sign-in fails with 504. */
  readonly timeoutMs: number
}

/** Requests per window; 0 turns that limit off. */
export interface RateLimitConfig {
  readonly windowMs: number
  readonly uploadsPerUser: number
  readonly uploadsPerIp: number
  readonly downloadsPerUser: number
  readonly downloadsPerIp: number
  readonly loginsPerIp: number
  readonly chatsPerUser: number
  /** Every other API request (lists, metadata, text, thumbnails, links, grants, conversations, MCP). */
  readonly requestsPerUser: number
  readonly requestsPerIp: number
}

export interface ExtractionConfig {
  /** Worker threads for PDF, DOCX, XLSX and DOC parsing (and thumbnails made at once); created on demand. */
  readonly threads: number
  /** One file's time limit. */
  readonly timeoutMs: number
  /** V8 heap cap of each worker thread, in MB. */
  readonly heapMb: number
  readonly maxPages: number
  readonly maxDecompressedBytes: number
  readonly maxTextChars: number
  readonly maxSheetRows: number
  /** Documents larger than this are not extracted (see ExtractionServiceOptions.maxFileBytes). */
  readonly maxFileBytes: number
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no', 'on', 'off', ''])
  .transform((v) => ['1', 'true', 'yes', 'on'].includes(v))

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v))

function duration(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v) => parseDurationMs(v))
    .pipe(z.number({ message: 'must be a duration like 30d, 12h, 10m or 5s' }))
}

/** A cron expression croner accepts (5 fields, or 6 with seconds), or `off`. */
function cronOrOff(fallback: string) {
  return z
    .string()
    .default(fallback)
    .transform((v) => v.trim())
    .refine((v) => v === 'off' || isCronExpression(v), { message: 'must be a cron expression such as "0 3 * * 0", or off' })
    .transform((v) => (v === 'off' ? undefined : v))
}

function isCronExpression(expression: string): boolean {
  try {
    new Cron(expression, { paused: true }).stop()
    return true
  } catch {
    return false
  }
}

const EnvSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: wholeNumber(0, 65535).default(3001),
  CABINET_DATA_DIR: z.string().min(1).default('./data'),
  CABINET_MAX_FILE_BYTES: wholeNumber(1, 1024 * 1024 * MIB).default(10 * MIB),
  CABINET_ALLOWED_TYPES: z
    .string()
    .default('jpg,jpeg,png,pdf,doc,docx,xlsx')
    .transform((v) => v.split(',').map((t) => t.trim().toLowerCase().replace(/^\./, '')).filter(Boolean))
    .pipe(
      z
        .array(
          z.string().refine((t) => kindOfExtension(t) !== undefined, {
            message: `unknown type; Cabinet recognises ${KNOWN_EXTENSIONS.join(', ')}`,
          }),
        )
        .min(1, 'must list at least one type'),
    ),
  CABINET_MIN_FREE_BYTES: wholeNumber(0, Number.MAX_SAFE_INTEGER).default(256 * MIB),
  CABINET_TRUST_USER_HEADER: flag.default(false),
  CABINET_TRUST_PROXY: flag.default(false),
  CABINET_URL_SECRET: optionalText.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  CABINET_PUBLIC_URL: optionalText.pipe(
    z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as https://files.example.com' })
      .transform((v) => v.replace(/\/+$/, ''))
      .optional(),
  ),
  CABINET_SIGNED_URL_TTL_SECONDS: wholeNumber(1, 7 * 86_400).default(3600),
  CABINET_SIGNED_URL_MAX_TTL_SECONDS: wholeNumber(1, 30 * 86_400).default(7 * 86_400),
  CABINET_UPLOAD_TIMEOUT_MS: wholeNumber(1000, 86_400_000).default(15 * 60_000),
  CABINET_SHUTDOWN_GRACE_MS: wholeNumber(0, 3_600_000).default(30_000),
  CABINET_JOB_POLL_INTERVAL_MS: wholeNumber(50, 600_000).default(1000),
  CABINET_JOB_LEASE_MS: wholeNumber(1000, 3_600_000).default(30_000),
  CABINET_DATABASE_URL: optionalText.pipe(
    z.string().regex(/^postgres(ql)?:\/\/./, 'must be a postgres:// URL, e.g. postgres://cabinet:secret@db.internal:5432/cabinet').optional(),
  ),
  CABINET_DATABASE_POOL_MAX: wholeNumber(1, 200).default(10),
  CABINET_DATABASE_TIMEOUT_MS: wholeNumber(1000, 3_600_000).default(30_000),
  CABINET_S3_ENDPOINT: optionalText.pipe(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional()),
  CABINET_S3_BUCKET: optionalText.pipe(
    z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)').optional(),
  ),
  CABINET_S3_REGION: z.string().min(1).default('us-east-1'),
  CABINET_S3_ACCESS_KEY_ID: optionalText,
  CABINET_S3_SECRET_ACCESS_KEY: optionalText,
  CABINET_S3_FORCE_PATH_STYLE: flag.optional(),
  CABINET_S3_REDIRECT_DOWNLOADS: flag.default(false),
  CABINET_S3_REQUEST_TIMEOUT_MS: wholeNumber(1000, 600_000).default(30_000),
  CABINET_SESSION_TTL_SECONDS: wholeNumber(1, 366 * 86_400).default(7 * 86_400),
  CABINET_DEV_LOGIN: flag.default(false),
  CABINET_WECHAT_APPID: optionalText.pipe(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a Mini Program app id such as wx0123456789abcdef').optional()),
  CABINET_WECHAT_SECRET: optionalText,
  CABINET_WECHAT_API_BASE: z
    .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
    .default('https://api.weixin.qq.com')
    .transform((v) => v.replace(/\/+$/, '')),
  CABINET_WECHAT_TIMEOUT_MS: wholeNumber(100, 60_000).default(5000),
  CABINET_QUOTA_MAX_BYTES: wholeNumber(0, Number.MAX_SAFE_INTEGER).default(1024 * MIB),
  CABINET_QUOTA_MAX_FILES: wholeNumber(0, Number.MAX_SAFE_INTEGER).default(10_000),
  CABINET_GRANT_TTL_SECONDS: wholeNumber(1, 366 * 86_400).default(86_400),
  CABINET_GRANT_MAX_TTL_SECONDS: wholeNumber(1, 366 * 86_400).default(30 * 86_400),
  CABINET_RATE_LIMIT_WINDOW_SECONDS: wholeNumber(1, 86_400).default(60),
  CABINET_RATE_LIMIT_UPLOADS_PER_USER: wholeNumber(0, 1_000_000_000).default(60),
  CABINET_RATE_LIMIT_UPLOADS_PER_IP: wholeNumber(0, 1_000_000_000).default(600),
  CABINET_RATE_LIMIT_DOWNLOADS_PER_USER: wholeNumber(0, 1_000_000_000).default(1200),
  CABINET_RATE_LIMIT_DOWNLOADS_PER_IP: wholeNumber(0, 1_000_000_000).default(3000),
  CABINET_RATE_LIMIT_LOGINS_PER_IP: wholeNumber(0, 1_000_000_000).default(60),
  CABINET_RATE_LIMIT_CHATS_PER_USER: wholeNumber(0, 1_000_000_000).default(30),
  CABINET_RATE_LIMIT_REQUESTS_PER_USER: wholeNumber(0, 1_000_000_000).default(3000),
  CABINET_RATE_LIMIT_REQUESTS_PER_IP: wholeNumber(0, 1_000_000_000).default(6000),
  CABINET_CORS_ORIGINS: optionalText.pipe(
    z
      .string()
      .transform((v) => v.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean))
      .pipe(z.array(z.url({ protocol: /^https?$/, message: 'each origin must be like https://admin.example.com' })).min(1))
      .optional(),
  ),
  CABINET_AUDIT_RETENTION_DAYS: wholeNumber(0, 36_500).default(180),
  CABINET_EXTRACT_THREADS: wholeNumber(1, 16).default(1),
  CABINET_EXTRACT_TIMEOUT_MS: wholeNumber(1000, 3_600_000).default(30_000),
  CABINET_EXTRACT_HEAP_MB: wholeNumber(32, 8192).default(128),
  CABINET_EXTRACT_MAX_PAGES: wholeNumber(1, 100_000).default(500),
  CABINET_EXTRACT_MAX_DECOMPRESSED_BYTES: wholeNumber(MIB, 64 * 1024 * MIB).default(128 * MIB),
  CABINET_EXTRACT_MAX_TEXT_CHARS: wholeNumber(1000, 100_000_000).default(1_000_000),
  CABINET_EXTRACT_MAX_SHEET_ROWS: wholeNumber(1, 1_000_000).default(10_000),
  // Within one Buffer (2 GiB is well under Node's limit); extraction holds the whole file.
  CABINET_EXTRACT_MAX_FILE_BYTES: wholeNumber(MIB, 2048 * MIB).default(32 * MIB),
  CABINET_THUMBNAIL_SIZES: z
    .string()
    .default('256,1024')
    .transform((v) => v.split(',').map((size) => size.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^\d+$/, 'sizes must be whole numbers of pixels').transform(Number).pipe(z.number().int().min(16, 'sizes must be at least 16').max(4096, 'sizes must be at most 4096'))).min(1, 'must list at least one size')),
  CABINET_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CABINET_RETENTION: z
    .string()
    .default('30d')
    .transform((v) => (v.trim() === 'never' ? ('never' as const) : parseDurationMs(v)))
    .pipe(z.union([z.literal('never'), z.number()], { message: 'must be a duration like 30d, 12h, 10m, 5s, or never' })),
  CABINET_CLEANUP_SCHEDULE: cronOrOff('0 3 * * 0'),
  CABINET_BACKUP_SCHEDULE: cronOrOff('0 2 * * *'),
  CABINET_BACKUP_DIR: optionalText,
  CABINET_BACKUP_RETENTION: duration('14d'),
  CABINET_QUARANTINE_DIR: optionalText,
  CABINET_METRICS_TOKEN: optionalText.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  CABINET_AGENT_URL: optionalText.pipe(
    z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL such as http://127.0.0.1:18789' })
      .transform((v) => v.replace(/\/+$/, ''))
      .optional(),
  ),
  CABINET_AGENT_TOKEN: optionalText,
  CABINET_AGENT_PROTOCOL: z.enum(['openresponses', 'chat-completions'], { message: 'must be openresponses or chat-completions' }).default('openresponses'),
  CABINET_AGENT_MODEL: z.string().min(1).max(200).default('openclaw/main'),
  CABINET_AGENT_TIMEOUT_MS: wholeNumber(100, 3_600_000).default(120_000),
  CABINET_AGENT_KEY: optionalText,
  CABINET_CHAT_MAX_MESSAGE_CHARS: wholeNumber(1, 1_000_000).default(8000),
  CABINET_CHAT_MAX_ATTACHMENTS: wholeNumber(1, 100).default(10),
  CABINET_CHAT_MAX_TEXT_CHARS: wholeNumber(1000, 10_000_000).default(200_000),
  CABINET_CHAT_MAX_FILE_BYTES: wholeNumber(1024, 1024 * MIB).default(5 * MIB),
  CABINET_CHAT_MAX_IMAGE_BYTES: wholeNumber(1024, 1024 * MIB).default(10 * MIB),
  CABINET_CHAT_MAX_BODY_BYTES: wholeNumber(64 * 1024, 4096 * MIB).default(20_000_000),
  CABINET_CHAT_EXTRACTION_WAIT_MS: wholeNumber(0, 600_000).default(15_000),
  CABINET_CHAT_GRANT_TTL_SECONDS: wholeNumber(1, 366 * 86_400).optional(),
})

/**
 * A refused value as a message may show it: secrets by their length only (the message goes to the
 * journal), URLs without a password, anything else as it is.
 */
function shownValue(name: string, value: string): string {
  if (/SECRET|TOKEN|PASSWORD/.test(name)) return `(${value.length} characters, not shown)`
  return JSON.stringify(value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@'))
}

/** Parses the environment; throws a ConfigError listing every bad variable at once. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = EnvSchema.safeParse(env)
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}=${shownValue(String(issue.path[0]), env[String(issue.path[0])] ?? '')}: ${issue.message}`)
  const ttls = EnvSchema.pick({ CABINET_SIGNED_URL_TTL_SECONDS: true, CABINET_SIGNED_URL_MAX_TTL_SECONDS: true }).safeParse(env)
  if (ttls.success && ttls.data.CABINET_SIGNED_URL_TTL_SECONDS > ttls.data.CABINET_SIGNED_URL_MAX_TTL_SECONDS) {
    problems.push('CABINET_SIGNED_URL_TTL_SECONDS: must not exceed CABINET_SIGNED_URL_MAX_TTL_SECONDS')
  }
  const s3 = Object.keys(env).filter((name) => name.startsWith('CABINET_S3_') && env[name] !== '')
  if (s3.length > 0 && !env.CABINET_S3_BUCKET) problems.push(`CABINET_S3_BUCKET: required when ${s3.join(', ')} ${s3.length > 1 ? 'are' : 'is'} set`)
  if (Boolean(env.CABINET_WECHAT_APPID) !== Boolean(env.CABINET_WECHAT_SECRET)) {
    problems.push('CABINET_WECHAT_APPID, CABINET_WECHAT_SECRET: set both for WeChat sign-in, or neither')
  }
  const grants = EnvSchema.pick({ CABINET_GRANT_TTL_SECONDS: true, CABINET_GRANT_MAX_TTL_SECONDS: true }).safeParse(env)
  if (grants.success && grants.data.CABINET_GRANT_TTL_SECONDS > grants.data.CABINET_GRANT_MAX_TTL_SECONDS) {
    problems.push('CABINET_GRANT_TTL_SECONDS: must not exceed CABINET_GRANT_MAX_TTL_SECONDS')
  }
  const chatGrant = EnvSchema.pick({ CABINET_CHAT_GRANT_TTL_SECONDS: true, CABINET_GRANT_MAX_TTL_SECONDS: true }).safeParse(env)
  if (chatGrant.success && (chatGrant.data.CABINET_CHAT_GRANT_TTL_SECONDS ?? 0) > chatGrant.data.CABINET_GRANT_MAX_TTL_SECONDS) {
    problems.push('CABINET_CHAT_GRANT_TTL_SECONDS: must not exceed CABINET_GRANT_MAX_TTL_SECONDS')
  }
  if (env.CABINET_S3_BUCKET) {
    for (const name of ['CABINET_S3_ACCESS_KEY_ID', 'CABINET_S3_SECRET_ACCESS_KEY']) {
      if (!env[name]) problems.push(`${name}: required with CABINET_S3_BUCKET`)
    }
  }
  // lib-storage sends 5 MiB parts, and S3 allows 10,000 parts per object.
  const maxS3ObjectBytes = 5 * MIB * 10_000
  if (env.CABINET_S3_BUCKET && parsed.success && parsed.data.CABINET_MAX_FILE_BYTES > maxS3ObjectBytes) {
    problems.push(`CABINET_MAX_FILE_BYTES: must be at most ${maxS3ObjectBytes} with S3 storage`)
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems)
  const e = parsed.data
  if (e.CABINET_SIGNED_URL_TTL_SECONDS > e.CABINET_SIGNED_URL_MAX_TTL_SECONDS) {
    throw new ConfigError(['CABINET_SIGNED_URL_TTL_SECONDS: must not exceed CABINET_SIGNED_URL_MAX_TTL_SECONDS'])
  }
  const dataDir = resolve(e.CABINET_DATA_DIR)
  const config: Config = {
    host: e.HOST,
    port: e.PORT,
    dataDir,
    database: e.CABINET_DATABASE_URL
      ? { kind: 'postgres', url: e.CABINET_DATABASE_URL, poolMax: e.CABINET_DATABASE_POOL_MAX, timeoutMs: e.CABINET_DATABASE_TIMEOUT_MS }
      : { kind: 'sqlite', path: resolve(dataDir, 'cabinet.db') },
    blobs: e.CABINET_S3_BUCKET
      ? {
          kind: 's3',
          endpoint: e.CABINET_S3_ENDPOINT,
          region: e.CABINET_S3_REGION,
          bucket: e.CABINET_S3_BUCKET,
          accessKeyId: e.CABINET_S3_ACCESS_KEY_ID!,
          secretAccessKey: e.CABINET_S3_SECRET_ACCESS_KEY!,
          forcePathStyle: e.CABINET_S3_FORCE_PATH_STYLE ?? e.CABINET_S3_ENDPOINT !== undefined,
          redirectDownloads: e.CABINET_S3_REDIRECT_DOWNLOADS,
          requestTimeoutMs: e.CABINET_S3_REQUEST_TIMEOUT_MS,
        }
      : { kind: 'local', rootDir: dataDir },
    maxFileBytes: e.CABINET_MAX_FILE_BYTES,
    allowedExtensions: Object.freeze([...new Set(e.CABINET_ALLOWED_TYPES)]),
    minFreeBytes: e.CABINET_MIN_FREE_BYTES,
    trustUserHeader: e.CABINET_TRUST_USER_HEADER,
    trustProxy: e.CABINET_TRUST_PROXY,
    urlSecret: e.CABINET_URL_SECRET,
    publicUrl: e.CABINET_PUBLIC_URL,
    signedUrlTtlSeconds: e.CABINET_SIGNED_URL_TTL_SECONDS,
    signedUrlMaxTtlSeconds: e.CABINET_SIGNED_URL_MAX_TTL_SECONDS,
    uploadTimeoutMs: e.CABINET_UPLOAD_TIMEOUT_MS,
    shutdownGraceMs: e.CABINET_SHUTDOWN_GRACE_MS,
    jobPollIntervalMs: e.CABINET_JOB_POLL_INTERVAL_MS,
    jobLeaseMs: e.CABINET_JOB_LEASE_MS,
    extraction: Object.freeze({
      threads: e.CABINET_EXTRACT_THREADS,
      timeoutMs: e.CABINET_EXTRACT_TIMEOUT_MS,
      heapMb: e.CABINET_EXTRACT_HEAP_MB,
      maxPages: e.CABINET_EXTRACT_MAX_PAGES,
      maxDecompressedBytes: e.CABINET_EXTRACT_MAX_DECOMPRESSED_BYTES,
      maxTextChars: e.CABINET_EXTRACT_MAX_TEXT_CHARS,
      maxSheetRows: e.CABINET_EXTRACT_MAX_SHEET_ROWS,
      maxFileBytes: e.CABINET_EXTRACT_MAX_FILE_BYTES,
    }),
    thumbnailSizes: Object.freeze([...new Set(e.CABINET_THUMBNAIL_SIZES)]),
    logLevel: e.CABINET_LOG_LEVEL,
    retentionMs: e.CABINET_RETENTION === 'never' ? undefined : e.CABINET_RETENTION,
    cleanupSchedule: e.CABINET_CLEANUP_SCHEDULE,
    backupSchedule: e.CABINET_BACKUP_SCHEDULE,
    backupDir: resolve(e.CABINET_BACKUP_DIR ?? resolve(dataDir, 'backups')),
    backupRetentionMs: e.CABINET_BACKUP_RETENTION,
    quarantineDir: resolve(e.CABINET_QUARANTINE_DIR ?? resolve(dataDir, 'quarantine')),
    metricsToken: e.CABINET_METRICS_TOKEN,
    sessionTtlSeconds: e.CABINET_SESSION_TTL_SECONDS,
    devLogin: e.CABINET_DEV_LOGIN,
    wechat: {
      appId: e.CABINET_WECHAT_APPID,
      secret: e.CABINET_WECHAT_SECRET,
      apiBase: e.CABINET_WECHAT_API_BASE,
      timeoutMs: e.CABINET_WECHAT_TIMEOUT_MS,
    },
    quota: {
      maxBytes: e.CABINET_QUOTA_MAX_BYTES === 0 ? undefined : e.CABINET_QUOTA_MAX_BYTES,
      maxFiles: e.CABINET_QUOTA_MAX_FILES === 0 ? undefined : e.CABINET_QUOTA_MAX_FILES,
    },
    grantTtlSeconds: e.CABINET_GRANT_TTL_SECONDS,
    grantMaxTtlSeconds: e.CABINET_GRANT_MAX_TTL_SECONDS,
    rateLimits: {
      windowMs: e.CABINET_RATE_LIMIT_WINDOW_SECONDS * 1000,
      uploadsPerUser: e.CABINET_RATE_LIMIT_UPLOADS_PER_USER,
      uploadsPerIp: e.CABINET_RATE_LIMIT_UPLOADS_PER_IP,
      downloadsPerUser: e.CABINET_RATE_LIMIT_DOWNLOADS_PER_USER,
      downloadsPerIp: e.CABINET_RATE_LIMIT_DOWNLOADS_PER_IP,
      loginsPerIp: e.CABINET_RATE_LIMIT_LOGINS_PER_IP,
      chatsPerUser: e.CABINET_RATE_LIMIT_CHATS_PER_USER,
      requestsPerUser: e.CABINET_RATE_LIMIT_REQUESTS_PER_USER,
      requestsPerIp: e.CABINET_RATE_LIMIT_REQUESTS_PER_IP,
    },
    corsOrigins: e.CABINET_CORS_ORIGINS,
    auditRetentionDays: e.CABINET_AUDIT_RETENTION_DAYS,
    agent: Object.freeze({
      url: e.CABINET_AGENT_URL,
      token: e.CABINET_AGENT_TOKEN,
      protocol: e.CABINET_AGENT_PROTOCOL,
      model: e.CABINET_AGENT_MODEL,
      timeoutMs: e.CABINET_AGENT_TIMEOUT_MS,
      keyName: e.CABINET_AGENT_KEY,
    }),
    chat: Object.freeze({
      maxMessageChars: e.CABINET_CHAT_MAX_MESSAGE_CHARS,
      maxAttachments: e.CABINET_CHAT_MAX_ATTACHMENTS,
      maxTextChars: e.CABINET_CHAT_MAX_TEXT_CHARS,
      maxFileBytes: e.CABINET_CHAT_MAX_FILE_BYTES,
      maxImageBytes: e.CABINET_CHAT_MAX_IMAGE_BYTES,
      maxBodyBytes: e.CABINET_CHAT_MAX_BODY_BYTES,
      extractionWaitMs: e.CABINET_CHAT_EXTRACTION_WAIT_MS,
      // One hour, or less when grants may not last that long.
      grantTtlSeconds: e.CABINET_CHAT_GRANT_TTL_SECONDS ?? Math.min(3600, e.CABINET_GRANT_MAX_TTL_SECONDS),
    }),
  }
  return Object.freeze(config)
}
