import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import type { RateLimitRepository } from './db/metadata-store.js'
import type { ApiKeyService } from './domain/auth/api-key-service.js'
import type { FileAccess } from './domain/auth/file-access.js'
import type { GrantService } from './domain/auth/grant-service.js'
import type { ChatService } from './domain/chat/chat-service.js'
import type { SessionService } from './domain/auth/session-service.js'
import type { UrlSigner } from './domain/auth/signed-url.js'
import type { TokenService } from './domain/auth/token-service.js'
import type { ExtractionService } from './domain/extraction/extraction-service.js'
import type { FileService } from './domain/files/file-service.js'
import type { FileSearch } from './domain/search/file-search.js'
import type { Readiness, StatsService } from './domain/stats/stats-service.js'
import type { ThumbnailService } from './domain/thumbnails/thumbnail-service.js'
import type { QuotaService } from './domain/users/quota-service.js'
import { clientErrorOf, ERRORS } from './errors.js'
import { createAuthenticate } from './http/authenticate.js'
import { installErrorHandler } from './http/error-handler.js'
import { installExpectContinue } from './http/expect-continue.js'
import { installRateLimits } from './http/plugins/rate-limits.js'
import { installSecurityHeaders } from './http/plugins/security-headers.js'
import type { App, RouteDeps } from './http/route-deps.js'
import getStatsRoute from './http/routes/admin/get-stats.route.js'
import healthRoutes from './http/routes/health/health.route.js'
import metricsRoute from './http/routes/health/metrics.route.js'
import devLoginRoute from './http/routes/auth/dev-login.route.js'
import getMeRoute from './http/routes/auth/get-me.route.js'
import chatRoute from './http/routes/chat/chat.route.js'
import { AttachmentReportSchema } from './http/routes/chat/chat-schemas.js'
import deleteConversationRoute from './http/routes/chat/delete-conversation.route.js'
import getConversationRoute from './http/routes/chat/get-conversation.route.js'
import listConversationsRoute from './http/routes/chat/list-conversations.route.js'
import mcpRoute from './http/routes/mcp/mcp.route.js'
import logoutRoute from './http/routes/auth/logout.route.js'
import wechatLoginRoute from './http/routes/auth/wechat-login.route.js'
import createFileUrlRoute from './http/routes/files/create-file-url.route.js'
import createGrantRoute from './http/routes/files/create-grant.route.js'
import deleteFileRoute from './http/routes/files/delete-file.route.js'
import downloadFileRoute from './http/routes/files/download-file.route.js'
import getFileMetaRoute from './http/routes/files/get-file-meta.route.js'
import { GrantSchema } from './http/routes/files/grant-schemas.js'
import getFileTextRoute from './http/routes/files/get-file-text.route.js'
import getFileThumbnailRoute from './http/routes/files/get-file-thumbnail.route.js'
import listFilesRoute from './http/routes/files/list-files.route.js'
import updateFileRoute from './http/routes/files/update-file.route.js'
import listGrantsRoute from './http/routes/files/list-grants.route.js'
import revokeGrantRoute from './http/routes/files/revoke-grant.route.js'
import uploadFileRoute from './http/routes/files/upload-file.route.js'
import { ErrorSchema, FileSchema, StatsSchema } from './http/schemas.js'
import type { Metrics } from './metrics.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Request body shown in the OpenAPI document only (multipart bodies are streamed, not validated). */
    openapiBody?: unknown
  }
}

export interface AppDeps {
  readonly config: Config
  readonly logger: Logger
  readonly files: FileService
  readonly extraction: ExtractionService
  readonly thumbnails: ThumbnailService
  readonly search: FileSearch
  readonly tokens: TokenService
  readonly urlSigner: UrlSigner
  readonly stats: StatsService
  readonly readiness: Readiness
  readonly metrics: Metrics
  readonly keys: ApiKeyService
  readonly access: FileAccess
  readonly grants: GrantService
  readonly sessions: SessionService
  readonly quotas: QuotaService
  readonly chat: ChatService
  /** Rate-limit counters shared by every instance (PostgreSQL); undefined keeps them in process memory. */
  readonly sharedRateLimits?: RateLimitRepository
}

const ROUTES: ReadonlyArray<(app: App, deps: RouteDeps) => void> = [
  uploadFileRoute,
  listFilesRoute,
  downloadFileRoute,
  getFileMetaRoute,
  getFileTextRoute,
  getFileThumbnailRoute,
  createFileUrlRoute,
  deleteFileRoute,
  updateFileRoute,
  getStatsRoute,
  healthRoutes,
  metricsRoute,
  createGrantRoute,
  listGrantsRoute,
  revokeGrantRoute,
  wechatLoginRoute,
  devLoginRoute,
  logoutRoute,
  getMeRoute,
  chatRoute,
  listConversationsRoute,
  getConversationRoute,
  deleteConversationRoute,
  mcpRoute,
]

/** Largest request head (request line and headers) accepted; Node answers 431 past it. */
const MAX_HEADER_BYTES = 16 * 1024
/** Longest path part (an id) the router matches; longer ones answer 414. */
const MAX_PARAM_CHARS = 2048

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps
  // Node's request timeout is the backstop for a request whose body never comes (an upload's own deadline,
  // a second earlier, ends one whose file is arriving).
  const requestTimeoutMs = config.uploadTimeoutMs + 1000
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    requestTimeout: requestTimeoutMs,
    bodyLimit: 64 * 1024,
    // The request timeout must reach Node's constructor too: set only afterwards (as Fastify's own option is),
    // one under the 60 s head timeout never fires. Node checks every 30 s by default; a quarter of the
    // timeout (1 s at least) keeps a short one close.
    http: {
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(60_000, config.uploadTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.max(1000, Math.floor(config.uploadTimeoutMs / 4))),
    },
    // Fastify's own closing reply lacks Cabinet's error shape; the onRequest hook below answers instead.
    return503OnClosing: false,
    clientErrorHandler: answerClientError,
    // A path Fastify cannot decode (a bad %-escape) gets Cabinet's error shape, not Fastify's own.
    // (It runs before the hooks and the error handler, so it sends the answer itself.)
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const [status, code, message] =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? [414, 'URI_TOO_LONG', `A part of the path is longer than ${MAX_PARAM_CHARS} characters`]
          : error.code === 'FST_ERR_BAD_URL'
            ? [400, 'BAD_REQUEST', 'Malformed URL: a path part is not valid percent-encoding']
            : [400, 'BAD_REQUEST', error.message]
      void reply.status(status).header('x-content-type-options', 'nosniff').send({ error: message, code })
    },
    // Ids of any plausible length reach their route, which answers a malformed one like a missing one (404).
    routerOptions: { maxParamLength: MAX_PARAM_CHARS },
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  installErrorHandler(app)
  installExpectContinue(app)
  // Every body Cabinet reads is JSON (or multipart, on the upload route): text is a type no route takes (415).
  app.removeContentTypeParser('text/plain')
  app.addSchema(ErrorSchema)
  app.addSchema(FileSchema)
  app.addSchema(StatsSchema)
  app.addSchema(GrantSchema)
  app.addSchema(AttachmentReportSchema)
  await installSecurityHeaders(app, { corsOrigins: config.corsOrigins })
  await installRateLimits(app, config.rateLimits, deps.sharedRateLimits)

  // While shutting down, in-flight requests still complete, but their connections close after
  // the response instead of idling until the keep-alive timeout holds up the exit.
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  // Callback-style hooks: they run on every request, and spare it a promise each.
  app.addHook('onRequest', (_request, _reply, done) => {
    done(closing ? ERRORS.serviceUnavailable('Cabinet is shutting down; retry in a moment') : undefined)
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close')
    done(null, payload)
  })
  // Metrics: counters and a histogram per route pattern (never the raw URL), in memory.
  const { metrics } = deps
  // One line per request; the query string is left out because signed URLs carry their signature there.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000)
    const queryAt = request.url.indexOf('?')
    request.log.info(
      { method: request.method, path: queryAt < 0 ? request.url : request.url.slice(0, queryAt), status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    )
    done()
  })

  // Upload failures by code; onError runs only for requests that fail.
  app.addHook('onError', (request, _reply, error, done) => {
    if (request.routeOptions.url === '/api/files/upload') {
      const status = (error as { statusCode?: number }).statusCode ?? 500
      metrics.uploadFailed(clientErrorOf(error)?.code ?? (status < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR'))
    }
    done()
  })

  // Multipart bodies are left unread here: the upload route streams them itself.
  app.addContentTypeParser('multipart/form-data', (_request, _payload, done) => done(null, undefined))

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Cabinet',
        version: '0.1.0',
        description: 'File storage for WeChat Mini Programs whose files are read by an AI agent. Every error is `{ "error", "code" }`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    transform: ({ schema, url, route }) => {
      const body = route.config?.openapiBody
      if (!body) return { schema, url }
      return { schema: { ...schema, body } as typeof schema, url }
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  const routeDeps: RouteDeps = {
    config,
    files: deps.files,
    extraction: deps.extraction,
    thumbnails: deps.thumbnails,
    search: deps.search,
    urlSigner: deps.urlSigner,
    authenticate: createAuthenticate(deps.tokens, deps.keys, { trustUserHeader: config.trustUserHeader }),
    stats: deps.stats,
    readiness: deps.readiness,
    metrics: deps.metrics,
    access: deps.access,
    grants: deps.grants,
    sessions: deps.sessions,
    quotas: deps.quotas,
    chat: deps.chat,
  }
  for (const route of ROUTES) route(app, routeDeps)

  return app
}

/**
 * Requests that never became requests (a malformed head, a head over the size limit, a body that
 * outruns its Content-Length, the request timeout) get Cabinet's error shape too, then the socket closes.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy()
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', `The request head is over the limit of ${MAX_HEADER_BYTES} bytes`]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request took longer than the time allowed']
        : error.code === 'HPE_INVALID_EOF_STATE'
          ? // The client finished sending (a half-close) before the body it declared: a cut-off upload.
            [400, 'UPLOAD_INCOMPLETE', 'The request ended before its whole body arrived']
          : [400, 'BAD_REQUEST', 'Malformed HTTP request']
  const body = JSON.stringify({ error: message, code })
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}
