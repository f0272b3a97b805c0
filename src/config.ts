import { resolve } from 'node:path'
import { z } from 'zod'
import { kindOfExtension, KNOWN_EXTENSIONS } from './domain/files/file-types.js'

const MIB = 1024 * 1024

/** Everything Cabinet reads from its environment, parsed once at start. */
export interface Config {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  /** SQLite file holding the metadata. */
  readonly sqlitePath: string
  readonly maxFileBytes: number
  /** Lower-cased extensions accepted for upload, e.g. `jpg`, `pdf`. */
  readonly allowedExtensions: readonly string[]
  /** Uploads are refused (507) when the blob store would fall below this many free bytes. */
  readonly minFreeBytes: number
  /** Honour the design note's `x-user-id` header; only behind a gateway that sets it itself. */
  readonly trustUserHeader: boolean
  /** Honour X-Forwarded-* from a reverse proxy such as nginx. */
  readonly trustProxy: boolean
  /** HMAC secret for signed URLs; when unset, generated into `<dataDir>/url-secret.key` on first start. */
  readonly urlSecret: string | undefined
  /** Origin used to build absolute signed URLs, e.g. `https://files.example.com`; else taken from the request. */
  readonly publicUrl: string | undefined
  readonly signedUrlTtlSeconds: number
  readonly signedUrlMaxTtlSeconds: number
  /** How long one upload request may take; pending uploads older than this are abandoned and cleaned. */
  readonly uploadTimeoutMs: number
  /** How long shutdown waits for in-flight requests before closing them. */
  readonly shutdownGraceMs: number
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
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
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems)
  const e = parsed.data
  if (e.CABINET_SIGNED_URL_TTL_SECONDS > e.CABINET_SIGNED_URL_MAX_TTL_SECONDS) {
    throw new ConfigError(['CABINET_SIGNED_URL_TTL_SECONDS: must not exceed CABINET_SIGNED_URL_MAX_TTL_SECONDS'])
  }
  const dataDir = resolve(e.CABINET_DATA_DIR)
  return Object.freeze({
    host: e.HOST,
    port: e.PORT,
    dataDir,
    sqlitePath: resolve(dataDir, 'cabinet.db'),
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
    logLevel: e.CABINET_LOG_LEVEL,
  })
}
