import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readEnvFile } from './cli/env-file.js'
import { ConfigError, loadConfig } from './config.js'
import { KNOWN_EXTENSIONS } from './domain/files/file-types.js'

const MIB = 1024 * 1024

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).problems
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('has working defaults for an empty environment', () => {
    expect(loadConfig({})).toEqual({
      host: '127.0.0.1',
      port: 3001,
      dataDir: resolve('./data'),
      database: { kind: 'sqlite', path: resolve('./data', 'cabinet.db') },
      blobs: { kind: 'local', rootDir: resolve('./data') },
      maxFileBytes: 10 * MIB,
      allowedExtensions: ['jpg', 'jpeg', 'png', 'pdf', 'doc', 'docx', 'xlsx'],
      minFreeBytes: 256 * MIB,
      trustUserHeader: false,
      trustProxy: false,
      urlSecret: undefined,
      publicUrl: undefined,
      signedUrlTtlSeconds: 3600,
      signedUrlMaxTtlSeconds: 7 * 86_400,
      uploadTimeoutMs: 15 * 60_000,
      shutdownGraceMs: 30_000,
      jobPollIntervalMs: 1000,
      jobLeaseMs: 30_000,
      extraction: {
        threads: 1,
        timeoutMs: 30_000,
        heapMb: 128,
        maxPages: 500,
        maxDecompressedBytes: 128 * MIB,
        maxTextChars: 1_000_000,
        maxSheetRows: 10_000,
        maxFileBytes: 32 * MIB,
      },
      thumbnailSizes: [256, 1024],
      logLevel: 'info',
      retentionMs: 30 * 86_400_000,
      cleanupSchedule: '0 3 * * 0',
      backupSchedule: '0 2 * * *',
      backupDir: resolve('./data', 'backups'),
      backupRetentionMs: 14 * 86_400_000,
      quarantineDir: resolve('./data', 'quarantine'),
      metricsToken: undefined,
      sessionTtlSeconds: 7 * 86_400,
      devLogin: false,
      wechat: { appId: undefined, secret: undefined, apiBase: 'https://api.weixin.qq.com', timeoutMs: 5000 },
      quota: { maxBytes: 1024 * MIB, maxFiles: 10_000 },
      grantTtlSeconds: 86_400,
      grantMaxTtlSeconds: 30 * 86_400,
      rateLimits: { windowMs: 60_000, uploadsPerUser: 60, uploadsPerIp: 600, downloadsPerUser: 1200, downloadsPerIp: 3000, loginsPerIp: 60, chatsPerUser: 30, requestsPerUser: 3000, requestsPerIp: 6000 },
      corsOrigins: undefined,
      auditRetentionDays: 180,
      agent: { url: undefined, token: undefined, protocol: 'openresponses', model: 'openclaw/main', timeoutMs: 120_000, keyName: undefined },
      chat: {
        maxMessageChars: 8000,
        maxAttachments: 10,
        maxTextChars: 200_000,
        maxFileBytes: 5 * MIB,
        maxImageBytes: 10 * MIB,
        maxBodyBytes: 20_000_000,
        extractionWaitMs: 15_000,
        grantTtlSeconds: 3600,
      },
    })
  })

  it('reads the agent and chat settings, and refuses bad ones', () => {
    const config = loadConfig({
      CABINET_AGENT_URL: 'http://127.0.0.1:18789/',
      CABINET_AGENT_TOKEN: 'gateway-token',
      CABINET_AGENT_PROTOCOL: 'chat-completions',
      CABINET_AGENT_MODEL: 'gpt-4o-mini',
      CABINET_AGENT_TIMEOUT_MS: '5000',
      CABINET_AGENT_KEY: 'openclaw',
      CABINET_CHAT_MAX_MESSAGE_CHARS: '100',
      CABINET_CHAT_MAX_ATTACHMENTS: '3',
      CABINET_CHAT_MAX_TEXT_CHARS: '5000',
      CABINET_CHAT_MAX_FILE_BYTES: '2048',
      CABINET_CHAT_MAX_IMAGE_BYTES: '4096',
      CABINET_CHAT_MAX_BODY_BYTES: '1048576',
      CABINET_CHAT_EXTRACTION_WAIT_MS: '0',
      CABINET_CHAT_GRANT_TTL_SECONDS: '60',
    })
    expect(config.agent).toEqual({ url: 'http://127.0.0.1:18789', token: 'gateway-token', protocol: 'chat-completions', model: 'gpt-4o-mini', timeoutMs: 5000, keyName: 'openclaw' })
    expect(config.chat).toEqual({
      maxMessageChars: 100,
      maxAttachments: 3,
      maxTextChars: 5000,
      maxFileBytes: 2048,
      maxImageBytes: 4096,
      maxBodyBytes: MIB,
      extractionWaitMs: 0,
      grantTtlSeconds: 60,
    })
    const problems = problemsOf({ CABINET_AGENT_URL: 'ws://gateway', CABINET_AGENT_PROTOCOL: 'grpc', CABINET_CHAT_GRANT_TTL_SECONDS: '100', CABINET_GRANT_MAX_TTL_SECONDS: '50' })
    for (const name of ['CABINET_AGENT_URL', 'CABINET_AGENT_PROTOCOL', 'CABINET_CHAT_GRANT_TTL_SECONDS: must not exceed']) {
      expect(problems.some((problem) => problem.startsWith(name))).toBe(true)
    }
    // The token is a secret: a problem report never shows it.
    expect(problemsOf({ CABINET_AGENT_TOKEN: 'gateway-token', CABINET_AGENT_URL: 'nope' }).join('\n')).not.toContain('gateway-token')
  })

  it('reads the sign-in, quota and rate-limit settings; 0 turns a limit off', () => {
    const config = loadConfig({
      CABINET_SESSION_TTL_SECONDS: '3600',
      CABINET_DEV_LOGIN: '1',
      CABINET_WECHAT_APPID: 'wx0123456789abcdef',
      CABINET_WECHAT_SECRET: 'not-a-real-secret',
      CABINET_WECHAT_API_BASE: 'http://127.0.0.1:9999/',
      CABINET_WECHAT_TIMEOUT_MS: '250',
      CABINET_QUOTA_MAX_BYTES: '0',
      CABINET_QUOTA_MAX_FILES: '5',
      CABINET_GRANT_TTL_SECONDS: '60',
      CABINET_GRANT_MAX_TTL_SECONDS: '120',
      CABINET_RATE_LIMIT_WINDOW_SECONDS: '10',
      CABINET_RATE_LIMIT_UPLOADS_PER_USER: '0',
      CABINET_RATE_LIMIT_UPLOADS_PER_IP: '1',
      CABINET_RATE_LIMIT_DOWNLOADS_PER_USER: '2',
      CABINET_RATE_LIMIT_DOWNLOADS_PER_IP: '0',
      CABINET_RATE_LIMIT_LOGINS_PER_IP: '3',
      CABINET_RATE_LIMIT_CHATS_PER_USER: '5',
      CABINET_RATE_LIMIT_REQUESTS_PER_USER: '7',
      CABINET_RATE_LIMIT_REQUESTS_PER_IP: '0',
      CABINET_CORS_ORIGINS: 'https://admin.example.com/, http://localhost:5173',
      CABINET_AUDIT_RETENTION_DAYS: '0',
    })
    expect(config).toMatchObject({
      sessionTtlSeconds: 3600,
      devLogin: true,
      wechat: { appId: 'wx0123456789abcdef', secret: 'not-a-real-secret', apiBase: 'http://127.0.0.1:9999', timeoutMs: 250 },
      quota: { maxBytes: undefined, maxFiles: 5 },
      grantTtlSeconds: 60,
      grantMaxTtlSeconds: 120,
      rateLimits: { windowMs: 10_000, uploadsPerUser: 0, uploadsPerIp: 1, downloadsPerUser: 2, downloadsPerIp: 0, loginsPerIp: 3, chatsPerUser: 5, requestsPerUser: 7, requestsPerIp: 0 },
      corsOrigins: ['https://admin.example.com', 'http://localhost:5173'],
      auditRetentionDays: 0,
    })
  })

  it('refuses half a WeChat configuration, a bad CORS origin and a grant default above its maximum', () => {
    const problems = problemsOf({
      CABINET_WECHAT_APPID: 'wx0123456789abcdef',
      CABINET_CORS_ORIGINS: 'admin.example.com',
      CABINET_GRANT_TTL_SECONDS: '100',
      CABINET_GRANT_MAX_TTL_SECONDS: '50',
    })
    expect(problems.join('\n')).toContain('CABINET_WECHAT_APPID, CABINET_WECHAT_SECRET: set both')
    expect(problems.join('\n')).toContain('CABINET_CORS_ORIGINS')
    expect(problems.join('\n')).toContain('CABINET_GRANT_TTL_SECONDS: must not exceed CABINET_GRANT_MAX_TTL_SECONDS')
  })

  it('reads every variable it knows', () => {
    const config = loadConfig({
      HOST: '0.0.0.0',
      PORT: '8080',
      CABINET_DATA_DIR: '/srv/cabinet',
      CABINET_MAX_FILE_BYTES: '1048576',
      CABINET_ALLOWED_TYPES: 'pdf,txt',
      CABINET_MIN_FREE_BYTES: '0',
      CABINET_TRUST_USER_HEADER: 'true',
      CABINET_TRUST_PROXY: '1',
      CABINET_URL_SECRET: 's'.repeat(32),
      CABINET_PUBLIC_URL: 'https://files.example.com',
      CABINET_SIGNED_URL_TTL_SECONDS: '60',
      CABINET_SIGNED_URL_MAX_TTL_SECONDS: '120',
      CABINET_UPLOAD_TIMEOUT_MS: '5000',
      CABINET_SHUTDOWN_GRACE_MS: '0',
      CABINET_JOB_POLL_INTERVAL_MS: '250',
      CABINET_JOB_LEASE_MS: '2000',
      CABINET_EXTRACT_THREADS: '2',
      CABINET_EXTRACT_TIMEOUT_MS: '5000',
      CABINET_EXTRACT_HEAP_MB: '64',
      CABINET_EXTRACT_MAX_PAGES: '10',
      CABINET_EXTRACT_MAX_DECOMPRESSED_BYTES: '2097152',
      CABINET_EXTRACT_MAX_TEXT_CHARS: '5000',
      CABINET_EXTRACT_MAX_SHEET_ROWS: '100',
      CABINET_EXTRACT_MAX_FILE_BYTES: String(4 * MIB),
      CABINET_THUMBNAIL_SIZES: '128, 512',
      CABINET_LOG_LEVEL: 'debug',
    })
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      dataDir: '/srv/cabinet',
      database: { kind: 'sqlite', path: '/srv/cabinet/cabinet.db' },
      blobs: { kind: 'local', rootDir: '/srv/cabinet' },
      maxFileBytes: MIB,
      allowedExtensions: ['pdf', 'txt'],
      minFreeBytes: 0,
      trustUserHeader: true,
      trustProxy: true,
      urlSecret: 's'.repeat(32),
      publicUrl: 'https://files.example.com',
      signedUrlTtlSeconds: 60,
      signedUrlMaxTtlSeconds: 120,
      uploadTimeoutMs: 5000,
      shutdownGraceMs: 0,
      jobPollIntervalMs: 250,
      jobLeaseMs: 2000,
      extraction: { threads: 2, timeoutMs: 5000, heapMb: 64, maxPages: 10, maxDecompressedBytes: 2 * MIB, maxTextChars: 5000, maxSheetRows: 100, maxFileBytes: 4 * MIB },
      thumbnailSizes: [128, 512],
      logLevel: 'debug',
    })
  })

  it('selects PostgreSQL and an S3 bucket when they are configured', () => {
    const config = loadConfig({
      CABINET_DATABASE_URL: 'postgres://cabinet:secret@db.internal:5432/cabinet',
      CABINET_DATABASE_POOL_MAX: '20',
      CABINET_S3_ENDPOINT: 'https://cos.ap-shanghai.myqcloud.com',
      CABINET_S3_BUCKET: 'cabinet-files-1250000000',
      CABINET_S3_REGION: 'ap-shanghai',
      CABINET_S3_ACCESS_KEY_ID: 'AKID',
      CABINET_S3_SECRET_ACCESS_KEY: 'SECRET',
      CABINET_S3_REDIRECT_DOWNLOADS: '1',
    })
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://cabinet:secret@db.internal:5432/cabinet', poolMax: 20, timeoutMs: 30_000 })
    expect(config.blobs).toEqual({
      kind: 's3',
      endpoint: 'https://cos.ap-shanghai.myqcloud.com',
      region: 'ap-shanghai',
      bucket: 'cabinet-files-1250000000',
      accessKeyId: 'AKID',
      secretAccessKey: 'SECRET',
      forcePathStyle: true,
      redirectDownloads: true,
      requestTimeoutMs: 30_000,
    })
    expect(loadConfig({ CABINET_S3_BUCKET: 'b-on-aws', CABINET_S3_ACCESS_KEY_ID: 'a', CABINET_S3_SECRET_ACCESS_KEY: 's' }).blobs).toMatchObject({
      endpoint: undefined,
      forcePathStyle: false,
    })
  })

  it('refuses half an S3 configuration, naming what is missing', () => {
    expect(problemsOf({ CABINET_S3_ENDPOINT: 'http://127.0.0.1:9000' })).toEqual([
      'CABINET_S3_BUCKET: required when CABINET_S3_ENDPOINT is set',
    ])
    expect(problemsOf({ CABINET_S3_BUCKET: 'files' })).toEqual([
      'CABINET_S3_ACCESS_KEY_ID: required with CABINET_S3_BUCKET',
      'CABINET_S3_SECRET_ACCESS_KEY: required with CABINET_S3_BUCKET',
    ])
    const s3 = { CABINET_S3_BUCKET: 'files', CABINET_S3_ACCESS_KEY_ID: 'a', CABINET_S3_SECRET_ACCESS_KEY: 's' }
    expect(problemsOf({ ...s3, CABINET_MAX_FILE_BYTES: String(64 * 1024 * MIB) })).toEqual([
      'CABINET_MAX_FILE_BYTES: must be at most 52428800000 with S3 storage',
    ])
    expect(problemsOf({ CABINET_DATABASE_URL: 'mysql://x' })[0]).toMatch(/^CABINET_DATABASE_URL="mysql:\/\/x": must be a postgres:\/\/ URL/)
  })

  it.each([
    ['1', true], ['true', true], ['yes', true], ['on', true],
    ['0', false], ['false', false], ['no', false], ['off', false], ['', false],
  ])('reads the flag value %j as %s', (value, expected) => {
    expect(loadConfig({ CABINET_TRUST_PROXY: value }).trustProxy).toBe(expected)
  })

  it('lists every bad variable at once, each by name', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      CABINET_MAX_FILE_BYTES: '0',
      CABINET_TRUST_PROXY: 'maybe',
      CABINET_URL_SECRET: 'too-short',
      CABINET_PUBLIC_URL: 'ftp://files.example.com',
      CABINET_LOG_LEVEL: 'loud',
      CABINET_UPLOAD_TIMEOUT_MS: '-5',
    })
    const named = [
      'PORT',
      'CABINET_MAX_FILE_BYTES',
      'CABINET_TRUST_PROXY',
      'CABINET_URL_SECRET',
      'CABINET_PUBLIC_URL',
      'CABINET_LOG_LEVEL',
      'CABINET_UPLOAD_TIMEOUT_MS',
    ]
    expect(problems).toHaveLength(named.length)
    for (const variable of named) expect(problems.some((p) => p.startsWith(variable))).toBe(true)
    expect(problems.find((p) => p.startsWith('PORT'))).toContain('"eighty"')
  })

  it('never shows a refused secret, nor the password in a refused URL', () => {
    const secret = 'my-real-secret-but-31-chars-xxx'
    const problems = problemsOf({
      CABINET_URL_SECRET: secret,
      CABINET_METRICS_TOKEN: 'short-token',
      CABINET_DATABASE_URL: 'mysql://cabinet:hunter2@db.internal/cabinet',
    })
    expect(problems).toContain('CABINET_URL_SECRET=(31 characters, not shown): must be at least 32 characters')
    expect(problems).toContain('CABINET_METRICS_TOKEN=(11 characters, not shown): must be at least 16 characters')
    expect(problems.find((p) => p.startsWith('CABINET_DATABASE_URL'))).toContain('"mysql://cabinet:***@db.internal/cabinet"')
    expect(problems.join('\n')).not.toMatch(/my-real-secret|short-token|hunter2/)
  })

  it('lists a signed-URL TTL above its maximum together with the other bad variables', () => {
    const problems = problemsOf({ PORT: 'eighty', CABINET_SIGNED_URL_TTL_SECONDS: '7200', CABINET_SIGNED_URL_MAX_TTL_SECONDS: '3600' })
    expect(problems.some((p) => p.startsWith('PORT'))).toBe(true)
    expect(problems.some((p) => p.startsWith('CABINET_SIGNED_URL_TTL_SECONDS'))).toBe(true)
  })

  it('refuses a signed-URL TTL above its maximum', () => {
    const problems = problemsOf({ CABINET_SIGNED_URL_TTL_SECONDS: '7200', CABINET_SIGNED_URL_MAX_TTL_SECONDS: '3600' })
    expect(problems).toEqual([expect.stringContaining('CABINET_SIGNED_URL_TTL_SECONDS')])
  })

  it.each([['65536'], ['3.5'], ['-1'], ['']])('refuses PORT=%j', (port) => {
    expect(problemsOf({ PORT: port })).toEqual([expect.stringMatching(/^PORT/)])
  })

  it('accepts PORT=0, letting the OS pick a free port', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0)
  })

  it('refuses an unknown type in CABINET_ALLOWED_TYPES, naming it and listing the known types', () => {
    const problems = problemsOf({ CABINET_ALLOWED_TYPES: 'pdf,exe' })
    expect(problems).toHaveLength(1)
    const problem = problems[0]!
    expect(problem).toMatch(/^CABINET_ALLOWED_TYPES/)
    expect(problem).toContain('exe')
    for (const extension of KNOWN_EXTENSIONS) expect(problem).toContain(extension)
  })

  it('refuses an empty CABINET_ALLOWED_TYPES list', () => {
    expect(problemsOf({ CABINET_ALLOWED_TYPES: ' , ' })).toEqual([expect.stringMatching(/^CABINET_ALLOWED_TYPES/)])
  })

  it('refuses thumbnail sizes that are not whole numbers of pixels in range', () => {
    expect(problemsOf({ CABINET_THUMBNAIL_SIZES: '256,big' })).toEqual([expect.stringMatching(/^CABINET_THUMBNAIL_SIZES.*whole numbers/)])
    expect(problemsOf({ CABINET_THUMBNAIL_SIZES: '8' })).toEqual([expect.stringMatching(/^CABINET_THUMBNAIL_SIZES.*at least 16/)])
    expect(problemsOf({ CABINET_EXTRACT_THREADS: '0' })).toEqual([expect.stringMatching(/^CABINET_EXTRACT_THREADS.*at least 1/)])
  })

  it('normalises allowed types: case, spaces, leading dots and duplicates', () => {
    expect(loadConfig({ CABINET_ALLOWED_TYPES: ' .PDF , Jpg,pdf,, md ' }).allowedExtensions).toEqual(['pdf', 'jpg', 'md'])
  })

  it.each([
    ['https://files.example.com/', 'https://files.example.com'],
    ['https://files.example.com///', 'https://files.example.com'],
    ['http://10.0.0.5:8080/cabinet/', 'http://10.0.0.5:8080/cabinet'],
  ])('trims the trailing slash of CABINET_PUBLIC_URL=%s', (value, expected) => {
    expect(loadConfig({ CABINET_PUBLIC_URL: value }).publicUrl).toBe(expected)
  })

  it('treats empty optional secrets and URLs as unset', () => {
    const config = loadConfig({ CABINET_URL_SECRET: '', CABINET_PUBLIC_URL: '' })
    expect(config.urlSecret).toBeUndefined()
    expect(config.publicUrl).toBeUndefined()
  })

  it('returns a frozen config, allowed types included', () => {
    const config = loadConfig({})
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.allowedExtensions)).toBe(true)
    expect(() => {
      ;(config as { port: number }).port = 1
    }).toThrow(TypeError)
    expect(() => (config.allowedExtensions as string[]).push('exe')).toThrow(TypeError)
    expect(config.port).toBe(3001)
  })

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', CABINET_UNKNOWN: 'x' }).port).toBe(3001)
  })

  it('reads the operations settings: retention, schedules (or off), backup folder and retention, metrics token', () => {
    const config = loadConfig({
      CABINET_DATA_DIR: '/srv/cabinet',
      CABINET_RETENTION: 'never',
      CABINET_CLEANUP_SCHEDULE: 'off',
      CABINET_BACKUP_SCHEDULE: '30 1 * * *',
      CABINET_BACKUP_DIR: '/var/backups/cabinet',
      CABINET_BACKUP_RETENTION: '7d',
      CABINET_METRICS_TOKEN: 'a-long-enough-metrics-token',
    })
    expect(config).toMatchObject({
      retentionMs: undefined,
      cleanupSchedule: undefined,
      backupSchedule: '30 1 * * *',
      backupDir: '/var/backups/cabinet',
      backupRetentionMs: 7 * 86_400_000,
      quarantineDir: '/srv/cabinet/quarantine',
      metricsToken: 'a-long-enough-metrics-token',
    })
    expect(loadConfig({ CABINET_RETENTION: '12h' }).retentionMs).toBe(12 * 3_600_000)
  })

  it('lists every bad operations setting at once', () => {
    const problems = problemsOf({
      CABINET_RETENTION: '30 days',
      CABINET_CLEANUP_SCHEDULE: 'every sunday',
      CABINET_BACKUP_SCHEDULE: '0 25 * * *',
      CABINET_BACKUP_RETENTION: 'forever',
      CABINET_METRICS_TOKEN: 'short',
    })
    for (const name of ['CABINET_RETENTION', 'CABINET_CLEANUP_SCHEDULE', 'CABINET_BACKUP_SCHEDULE', 'CABINET_BACKUP_RETENTION', 'CABINET_METRICS_TOKEN']) {
      expect(problems.some((problem) => problem.startsWith(name))).toBe(true)
    }
  })
})

describe('the deploy/ files', () => {
  const deploy = (name: string) => readFile(join(import.meta.dirname, '..', 'deploy', name), 'utf8')

  it('agree with each other: a valid configuration, a body limit above Cabinet\'s, writable data and backup folders', async () => {
    const config = loadConfig(await readEnvFile(join(import.meta.dirname, '..', 'deploy', 'cabinet.env.example')))
    expect(config).toMatchObject({ host: '127.0.0.1', trustProxy: true, dataDir: '/var/lib/cabinet', backupDir: '/var/backups/cabinet' })
    const nginx = await deploy('nginx/cabinet.conf')
    const bodyLimitMiB = Number(/client_max_body_size (\d+)m;/.exec(nginx)?.[1])
    // Above the file limit by at least the multipart framing Cabinet allows for (64 KiB).
    expect(bodyLimitMiB * MIB).toBeGreaterThanOrEqual(config.maxFileBytes + 64 * 1024)
    expect(nginx).toContain(`server 127.0.0.1:${config.port};`)
    expect(nginx).toContain('proxy_request_buffering off;')
    const unit = await deploy('cabinet.service')
    const writable = /^ReadWritePaths=(.*)$/m.exec(unit)?.[1]?.split(' ')
    expect(writable).toEqual(expect.arrayContaining([config.dataDir, config.backupDir]))
    for (const option of ['ProtectSystem=strict', 'UMask=0027', 'NoNewPrivileges=yes', 'User=cabinet', 'EnvironmentFile=/etc/cabinet/cabinet.env']) {
      expect(unit).toContain(option)
    }
    // The service runs node as `npm start` does (the bench measures it that way).
    const { scripts } = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { scripts: { start: string } }
    // Node's own flags: the words between the node binary and the script (the command's options come after it).
    const nodeFlags = (command: string) => {
      const words = command.trim().split(/\s+/)
      const script = words.findIndex((word) => word.endsWith('.js'))
      return words.slice(1, script < 0 ? words.length : script)
    }
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? ''
    expect(nodeFlags(execStart)).toEqual(nodeFlags(scripts.start))
    expect(nodeFlags(scripts.start)).not.toEqual([])
  })
})
