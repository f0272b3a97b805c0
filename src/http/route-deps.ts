import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify'
import type { Config } from '../config.js'
import type { FileAccess } from '../domain/auth/file-access.js'
import type { GrantService } from '../domain/auth/grant-service.js'
import type { ChatService } from '../domain/chat/chat-service.js'
import type { SessionService } from '../domain/auth/session-service.js'
import type { UrlSigner } from '../domain/auth/signed-url.js'
import type { ExtractionService } from '../domain/extraction/extraction-service.js'
import type { FileService } from '../domain/files/file-service.js'
import type { FileSearch } from '../domain/search/file-search.js'
import type { Readiness, StatsService } from '../domain/stats/stats-service.js'
import type { ThumbnailService } from '../domain/thumbnails/thumbnail-service.js'
import type { QuotaService } from '../domain/users/quota-service.js'
import type { Metrics } from '../metrics.js'
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
  readonly stats: StatsService
  readonly readiness: Readiness
  readonly metrics: Metrics
  /** Which files a caller (user or API key) may touch; audits every access by a key. */
  readonly access: FileAccess
  readonly grants: GrantService
  readonly sessions: SessionService
  readonly quotas: QuotaService
  /** `POST /api/chat` and the conversations. */
  readonly chat: ChatService
}
