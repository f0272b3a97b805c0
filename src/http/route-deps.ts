import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import type { Config } from '../config.js'
import type { UrlSigner } from '../domain/auth/signed-url.js'
import type { ExtractionService } from '../domain/extraction/extraction-service.js'
import type { FileService } from '../domain/files/file-service.js'
import type { FileSearch } from '../domain/search/file-search.js'
import type { ThumbnailService } from '../domain/thumbnails/thumbnail-service.js'
import type { Authenticate } from './authenticate.js'

export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>

/** What route files may use: domain services and the request authenticator, never a database or blob store. */
export interface RouteDeps {
  readonly config: Config
  readonly files: FileService
  readonly extraction: ExtractionService
  readonly thumbnails: ThumbnailService
  readonly search: FileSearch
  readonly urlSigner: UrlSigner
  readonly authenticate: Authenticate
}
