import { Type } from '@sinclair/typebox'
import { signedFileUrl } from '../../../domain/auth/signed-url.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams } from '../../schemas.js'

const SignedUrlSchema = Type.Object({
  url: Type.String({ description: 'Absolute URL that downloads the file without any header until it expires' }),
  expires_at: Type.String({ format: 'date-time' }),
})

export default function createFileUrlRoute(app: App, deps: RouteDeps): void {
  const { signedUrlTtlSeconds, signedUrlMaxTtlSeconds, publicUrl } = deps.config
  const Body = Type.Object({
    expires_in: Type.Optional(
      Type.Integer({ minimum: 1, maximum: signedUrlMaxTtlSeconds, description: `Seconds; default ${signedUrlTtlSeconds}` }),
    ),
    inline: Type.Optional(Type.Boolean({ description: 'Link displays in the browser instead of downloading' })),
  })
  app.post(
    '/api/files/:id/url',
    {
      onRequest: deps.authenticate,
      config: { keyScope: 'files:read' },
      // An empty POST (no body at all) means "defaults".
      preValidation: async (request) => {
        request.body ??= {}
      },
      schema: {
        summary: 'A signed, expiring download URL (for <image src>, wx.downloadFile, agents)',
        tags: ['files'],
        security: bearerSecurity,
        params: FileIdParams,
        body: Body,
        response: { 200: SignedUrlSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { file, until } = await deps.access.readableUntil(request.params.id, request.caller, { ip: request.ip }, 'file.url')
      const { url, expiresAt } = signedFileUrl(deps.urlSigner, {
        fileId: file.id,
        ttlSeconds: request.body.expires_in ?? signedUrlTtlSeconds,
        until,
        keyId: request.caller.key?.id,
        origin: publicUrl ?? `${request.protocol}://${request.host}`,
        inline: request.body.inline === true,
      })
      return { url, expires_at: expiresAt.toISOString() }
    },
  )
}
