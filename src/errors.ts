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
  truncatedUpload: (cause?: unknown) =>
    new AppError('UPLOAD_INCOMPLETE', 400, 'The upload ended before the whole file arrived', { cause }),
  unauthorized: (message = 'Missing or invalid credentials: send Authorization: Bearer <token>') =>
    new AppError('UNAUTHORIZED', 401, message, { headers: { 'www-authenticate': 'Bearer' } }),
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
  internal: (cause?: unknown) => new AppError('INTERNAL_ERROR', 500, 'Internal server error', { cause }),
  serviceUnavailable: (message: string) => new AppError('SERVICE_UNAVAILABLE', 503, message),
} as const

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError
}
