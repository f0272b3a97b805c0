import { resolve } from 'node:path'
import { z } from 'zod'
import { kindOfExtension, KNOWN_EXTENSIONS } from './domain/files/file-types.js'

const MIB = 1024 * 1024

/** Everything Cabinet reads from its environment, parsed once at start. */
/** Where metadata lives: the embedded SQLite file, or a PostgreSQL server several instances share. */
export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly poolMax: number }

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
  CABINET_S3_ENDPOINT: optionalText.pipe(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional()),
  CABINET_S3_BUCKET: optionalText.pipe(
    z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)').optional(),
  ),
  CABINET_S3_REGION: z.string().min(1).default('us-east-1'),
  CABINET_S3_ACCESS_KEY_ID: optionalText,
  CABINET_S3_SECRET_ACCESS_KEY: optionalText,
  CABINET_S3_FORCE_PATH_STYLE: flag.optional(),
  CABINET_S3_REDIRECT_DOWNLOADS: flag.default(false),
  CABINET_EXTRACT_THREADS: wholeNumber(1, 16).default(1),
  CABINET_EXTRACT_TIMEOUT_MS: wholeNumber(1000, 3_600_000).default(30_000),
  CABINET_EXTRACT_HEAP_MB: wholeNumber(32, 8192).default(128),
  CABINET_EXTRACT_MAX_PAGES: wholeNumber(1, 100_000).default(500),
  CABINET_EXTRACT_MAX_DECOMPRESSED_BYTES: wholeNumber(MIB, 64 * 1024 * MIB).default(128 * MIB),
  CABINET_EXTRACT_MAX_TEXT_CHARS: wholeNumber(1000, 100_000_000).default(1_000_000),
  CABINET_EXTRACT_MAX_SHEET_ROWS: wholeNumber(1, 1_000_000).default(10_000),
  CABINET_THUMBNAIL_SIZES: z
    .string()
    .default('256,1024')
    .transform((v) => v.split(',').map((size) => size.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^\d+$/, 'sizes must be whole numbers of pixels').transform(Number).pipe(z.number().int().min(16, 'sizes must be at least 16').max(4096, 'sizes must be at most 4096'))).min(1, 'must list at least one size')),
  CABINET_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
})

/** Parses the environment; throws a ConfigError listing every bad variable at once. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const parsed = EnvSchema.safeParse(env)
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}=${JSON.stringify(env[String(issue.path[0])] ?? '')}: ${issue.message}`)
  const ttls = EnvSchema.pick({ CABINET_SIGNED_URL_TTL_SECONDS: true, CABINET_SIGNED_URL_MAX_TTL_SECONDS: true }).safeParse(env)
  if (ttls.success && ttls.data.CABINET_SIGNED_URL_TTL_SECONDS > ttls.data.CABINET_SIGNED_URL_MAX_TTL_SECONDS) {
    problems.push('CABINET_SIGNED_URL_TTL_SECONDS: must not exceed CABINET_SIGNED_URL_MAX_TTL_SECONDS')
  }
  const s3 = Object.keys(env).filter((name) => name.startsWith('CABINET_S3_') && env[name] !== '')
  if (s3.length > 0 && !env.CABINET_S3_BUCKET) problems.push(`CABINET_S3_BUCKET: required when ${s3.join(', ')} ${s3.length > 1 ? 'are' : 'is'} set`)
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
      ? { kind: 'postgres', url: e.CABINET_DATABASE_URL, poolMax: e.CABINET_DATABASE_POOL_MAX }
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
    }),
    thumbnailSizes: Object.freeze([...new Set(e.CABINET_THUMBNAIL_SIZES)]),
    logLevel: e.CABINET_LOG_LEVEL,
  }
  return Object.freeze(config)
}
