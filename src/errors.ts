import { BackendUnavailableError } from './outages.js'

/**
 * Every error a client can see. The HTTP layer renders `{ error: message, code }`
 * with `status`; codes are stable API, messages are for humans.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.headers = options?.headers
  }

  readonly headers: Record<string, string> | undefined
}

export const ERRORS = {
  badRequest: (message: string, cause?: unknown) => new AppError('BAD_REQUEST', 400, message, { cause }),
  noFile: () => new AppError('NO_FILE', 400, 'No file uploaded: send multipart/form-data with the file in a field named "file"'),
  emptyFile: () => new AppError('EMPTY_FILE', 400, 'The uploaded file is empty'),
  badFileName: (reason: string) => new AppError('BAD_FILE_NAME', 400, `Invalid file name: ${reason}`),
  /** The connection closes after the answer: the client may still be sending, and nothing more of it is read. */
  uploadTimedOut: (timeoutMs: number) =>
    new AppError('REQUEST_TIMEOUT', 408, `The upload took longer than the ${Math.round(timeoutMs / 1000)} s allowed`, {
      headers: { connection: 'close' },
    }),
  truncatedUpload: (cause?: unknown) =>
    new AppError('UPLOAD_INCOMPLETE', 400, 'The upload ended before the whole file arrived', { cause }),
  unauthorized: (message = 'Missing or invalid credentials: send Authorization: Bearer <token>') =>
    new AppError('UNAUTHORIZED', 401, message, { headers: { 'www-authenticate': 'Bearer' } }),
  forbidden: (message = 'This route needs an admin token (cabinet token create --admin) or an API key with the admin scope') => new AppError('FORBIDDEN', 403, message),
  urlExpired: () => new AppError('URL_EXPIRED', 403, 'This download link has expired'),
  badSignature: () => new AppError('BAD_SIGNATURE', 403, 'This download link is not valid'),
  fileNotFound: () => new AppError('FILE_NOT_FOUND', 404, 'File not found'),
  routeNotFound: (method: string, url: string) =>
    new AppError('ROUTE_NOT_FOUND', 404, `No route for ${method} ${url.split('?')[0]}`),
  fileTooLarge: (maxBytes: number) =>
    new AppError('FILE_TOO_LARGE', 413, `File is larger than the limit of ${maxBytes} bytes`),
  fileTypeNotAllowed: (detail: string, allowed: readonly string[]) =>
    new AppError('FILE_TYPE_NOT_ALLOWED', 415, `${detail}; allowed types: ${allowed.join(', ')}`),
  fileTypeMismatch: (extension: string, detected: string) =>
    new AppError(
      'FILE_TYPE_MISMATCH',
      415,
      `File content does not match its extension: named .${extension} but the content is ${detected}`,
    ),
  rangeNotSatisfiable: (size: number) =>
    new AppError('RANGE_NOT_SATISFIABLE', 416, `Requested range is outside the file (size ${size} bytes)`, {
      headers: { 'content-range': `bytes */${size}` },
    }),
  thumbnailUnavailable: (reason: string) => new AppError('THUMBNAIL_UNAVAILABLE', 422, `No thumbnail for this file: ${reason}`),
  insufficientStorage: () =>
    new AppError('INSUFFICIENT_STORAGE', 507, 'The server is low on storage space; try again later'),
  quotaExceeded: (message: string) => new AppError('QUOTA_EXCEEDED', 507, message),
  rateLimited: (message: string, retryAfterSeconds: number) =>
    new AppError('RATE_LIMITED', 429, message, { headers: { 'retry-after': String(retryAfterSeconds) } }),
  scopeMissing: (scope: string) =>
    new AppError('SCOPE_MISSING', 403, `This API key lacks the ${scope} scope`),
  keyNotAllowed: () => new AppError('KEY_NOT_ALLOWED', 403, 'API keys cannot use this route; sign in as a user'),
  keyNotFound: () => new AppError('KEY_NOT_FOUND', 404, 'No active API key by that id or name'),
  grantNotFound: () => new AppError('GRANT_NOT_FOUND', 404, 'Grant not found'),
  devLoginDisabled: () =>
    new AppError('DEV_LOGIN_DISABLED', 403, 'Dev sign-in is off; the operator can turn it on with CABINET_DEV_LOGIN=1 (never in production)'),
  wechatNotConfigured: () =>
    new AppError('WECHAT_NOT_CONFIGURED', 503, 'WeChat sign-in is not set up on this server (CABINET_WECHAT_APPID and CABINET_WECHAT_SECRET)'),
  wechatCodeInvalid: () =>
    new AppError('WECHAT_CODE_INVALID', 401, 'The WeChat login code is invalid, expired or already used; call wx.login again for a new one'),
  wechatLoginBlocked: () =>
    new AppError('WECHAT_LOGIN_BLOCKED', 403, 'WeChat refused to sign this user in (a high-risk account)'),
  wechatRateLimited: (retryAfterSeconds: number) =>
    new AppError('WECHAT_RATE_LIMITED', 429, 'WeChat is limiting sign-ins for this Mini Program; retry in a minute', {
      headers: { 'retry-after': String(retryAfterSeconds) },
    }),
  wechatBusy: (retryAfterSeconds: number) =>
    new AppError('WECHAT_BUSY', 503, 'WeChat is busy; retry in a moment', { headers: { 'retry-after': String(retryAfterSeconds) } }),
  wechatTimeout: (timeoutMs: number) => new AppError('WECHAT_TIMEOUT', 504, `WeChat did not answer within ${timeoutMs} ms; retry`),
  wechatError: (detail: string, cause?: unknown) => new AppError('WECHAT_ERROR', 502, `WeChat sign-in failed: ${detail}`, { cause }),
  methodNotAllowed: (allowed: string) =>
    new AppError('METHOD_NOT_ALLOWED', 405, `This route takes ${allowed} only`, { headers: { allow: allowed } }),
  conversationNotFound: () => new AppError('CONVERSATION_NOT_FOUND', 404, 'Conversation not found'),
  messageTooLong: (maxChars: number) => new AppError('MESSAGE_TOO_LONG', 413, `The message is longer than the limit of ${maxChars} characters`),
  tooManyAttachments: (message: string) => new AppError('TOO_MANY_ATTACHMENTS', 400, message),
  agentUnavailable: (detail: string, cause?: unknown) => new AppError('AGENT_UNAVAILABLE', 502, `The AI agent is unavailable: ${detail}`, { cause }),
  agentTimeout: (timeoutMs: number) => new AppError('AGENT_TIMEOUT', 504, `The AI agent did not answer within ${timeoutMs} ms; retry`),
  internal: (cause?: unknown) => new AppError('INTERNAL_ERROR', 500, 'Internal server error', { cause }),
  storageUnavailable: (cause?: unknown) =>
    new AppError('STORAGE_UNAVAILABLE', 503, "Cabinet's storage cannot be reached right now; try again in a moment", {
      cause,
      headers: { 'retry-after': '10' },
    }),
  serviceUnavailable: (message: string) => new AppError('SERVICE_UNAVAILABLE', 503, message),
  notReady: (problems: readonly string[]) => new AppError('NOT_READY', 503, `Not ready: ${problems.join('; ')}`),
} as const

/**
 * What a client is told of an error: Cabinet's own as it is, a database or object storage outage as
 * STORAGE_UNAVAILABLE; undefined for anything else, which is a bug (500, details in the log only).
 */
export function clientErrorOf(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error
  if (error instanceof BackendUnavailableError) return ERRORS.storageUnavailable(error)
  return undefined
}
