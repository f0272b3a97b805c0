import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import type { UrlSigner } from './domain/auth/signed-url.js'
import type { TokenService } from './domain/auth/token-service.js'
import type { ExtractionService } from './domain/extraction/extraction-service.js'
import type { FileService } from './domain/files/file-service.js'
import type { FileSearch } from './domain/search/file-search.js'
import type { ThumbnailService } from './domain/thumbnails/thumbnail-service.js'
import { ERRORS } from './errors.js'
import { createAuthenticate } from './http/authenticate.js'
import { installErrorHandler } from './http/error-handler.js'
import type { App, RouteDeps } from './http/route-deps.js'
import createFileUrlRoute from './http/routes/files/create-file-url.route.js'
import deleteFileRoute from './http/routes/files/delete-file.route.js'
import downloadFileRoute from './http/routes/files/download-file.route.js'
import getFileMetaRoute from './http/routes/files/get-file-meta.route.js'
import getFileTextRoute from './http/routes/files/get-file-text.route.js'
import getFileThumbnailRoute from './http/routes/files/get-file-thumbnail.route.js'
import listFilesRoute from './http/routes/files/list-files.route.js'
import uploadFileRoute from './http/routes/files/upload-file.route.js'
import { ErrorSchema, FileSchema } from './http/schemas.js'

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
]

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    requestTimeout: config.uploadTimeoutMs,
    bodyLimit: 64 * 1024,
    // Fastify's own closing reply lacks Cabinet's error shape; the onRequest hook below answers instead.
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  installErrorHandler(app)
  app.addSchema(ErrorSchema)
  app.addSchema(FileSchema)

  // While shutting down, in-flight requests still complete, but their connections close after
  // the response instead of idling until the keep-alive timeout holds up the exit.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async () => {
    if (closing) throw ERRORS.serviceUnavailable('Cabinet is shutting down; retry in a moment')
  })
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('x-content-type-options', 'nosniff')
    if (closing) void reply.header('connection', 'close')
    return payload
  })
  // One line per request; the query string is left out because signed URLs carry their signature there.
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, path: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    )
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
    authenticate: createAuthenticate(deps.tokens, { trustUserHeader: config.trustUserHeader }),
  }
  for (const route of ROUTES) route(app, routeDeps)

  return app
}
