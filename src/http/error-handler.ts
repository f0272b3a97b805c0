import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify'
import { AppError, clientErrorOf, ERRORS } from '../errors.js'

/** Fastify errors a client can cause, mapped to Cabinet's codes. */
const FRAMEWORK_CODES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
}

/**
 * Server-side statuses that are not Cabinet failing: a user over their quota is routine; a full disk,
 * a shutdown or an agent that fails are the operator's to know about, not a bug.
 */
const LOG_LEVEL_BY_CODE: Readonly<Record<string, 'info' | 'warn'>> = {
  QUOTA_EXCEEDED: 'info',
  INSUFFICIENT_STORAGE: 'warn',
  SERVICE_UNAVAILABLE: 'warn',
  STORAGE_UNAVAILABLE: 'warn',
  AGENT_UNAVAILABLE: 'warn',
  AGENT_TIMEOUT: 'warn',
}

/** Logs a server-side (5xx) AppError with its cause, at the level its code calls for; client errors are not logged. */
export function logServerError(log: FastifyBaseLogger, error: AppError): void {
  if (error.status >= 500) log[LOG_LEVEL_BY_CODE[error.code] ?? 'error']({ err: error.cause ?? error, code: error.code }, error.message)
}

/** Renders every error as `{ error, code }` with its status; unknown errors are 500s whose details stay in the log. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((thrown: FastifyError | AppError, request, reply) => {
    // Any route that needs the database or object storage while it is down says so.
    const error = clientErrorOf(thrown) ?? thrown
    if (error instanceof AppError) {
      if (error.headers) void reply.headers(error.headers)
      logServerError(request.log, error)
      return reply.status(error.status).send({ error: error.message, code: error.code })
    }
    if (error.validation) {
      return reply.status(400).send({ error: `Invalid request: ${error.message}`, code: 'BAD_REQUEST' })
    }
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      return reply.status(status).send({ error: error.message, code: FRAMEWORK_CODES[error.code] ?? 'BAD_REQUEST' })
    }
    request.log.error({ err: error }, 'request failed')
    const internal = ERRORS.internal()
    return reply.status(internal.status).send({ error: internal.message, code: internal.code })
  })

  app.setNotFoundHandler((request, reply) => {
    const error = ERRORS.routeNotFound(request.method, request.url)
    return reply.status(error.status).send({ error: error.message, code: error.code })
  })
}
