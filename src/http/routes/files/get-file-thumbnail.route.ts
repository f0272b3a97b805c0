import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams } from '../../schemas.js'

const ThumbnailQuery = Type.Object({
  size: Type.Optional(Type.Integer({ description: 'Longest side in pixels: one of CABINET_THUMBNAIL_SIZES (default: the first)' })),
  format: Type.Optional(Type.Union([Type.Literal('webp'), Type.Literal('jpeg')], { default: 'webp' })),
  expires: Type.Optional(Type.String({ description: 'From the file\'s signed URL (POST /api/files/{id}/url)' })),
  key: Type.Optional(Type.String({ description: 'From the file\'s signed URL, when an API key asked for it' })),
  sig: Type.Optional(Type.String({ description: 'From the file\'s signed URL' })),
})

export default function getFileThumbnailRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/files/:id/thumbnail',
    {
      onRequest: async (request) => {
        const { expires, sig } = request.query as { expires?: unknown; sig?: unknown }
        if (expires === undefined && sig === undefined) await deps.authenticate(request)
      },
      schema: {
        summary: 'An image\'s thumbnail (WebP or JPEG, EXIF orientation applied, metadata stripped), made on first request and kept',
        tags: ['files'],
        security: [...bearerSecurity, {}],
        params: FileIdParams,
        querystring: ThumbnailQuery,
        response: {
          200: { description: 'The thumbnail', content: { 'image/webp': { schema: { type: 'string', format: 'binary' } }, 'image/jpeg': { schema: { type: 'string', format: 'binary' } } } },
          304: { description: 'Not modified since the cached copy' },
          ...errorResponses(400, 401, 403, 404, 422),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      const { expires, sig, key, size, format } = request.query
      let file
      if (expires !== undefined || sig !== undefined) {
        deps.urlSigner.verify(id, expires ?? '', sig ?? '', key)
        file = await deps.access.linkedFile(id, key)
      } else {
        file = await deps.access.readable(id, request.caller, { ip: request.ip }, 'file.thumbnail')
      }
      const thumbnail = await deps.thumbnails.thumbnailOf(file, { ...(size === undefined ? {} : { size }), ...(format ? { format } : {}) })
      const etag = `"${thumbnail.sha256}"`
      void reply.headers({ etag, 'cache-control': 'private, max-age=86400', vary: 'authorization' })
      if (request.headers['if-none-match']?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) return reply.status(304).send()
      void reply.headers({ 'content-type': thumbnail.mimeType, 'content-length': thumbnail.sizeBytes })
      return reply.send(await deps.thumbnails.open(thumbnail))
    },
  )
}
