import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileSchema, toFileJson } from '../../schemas.js'

const ListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 500,
      description: 'Search names and extracted text: every word must occur (any language, case-insensitive); results ranked best first',
    }),
  ),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'next_cursor from the previous page' })),
  type: Type.Optional(
    Type.String({ maxLength: 200, description: 'Filter: extensions (pdf,docx), a MIME type (image/png) or a family (image, image/*)' }),
  ),
})

const FilePageSchema = Type.Object({
  files: Type.Array(FileSchema),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as cursor for the next page; null on the last page' }),
})

export default function listFilesRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/files',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'The caller\'s files, newest first, with cursor pagination (for an API key: its own and those granted to it); with q, a ranked search of names and text',
        tags: ['files'],
        security: bearerSecurity,
        querystring: ListQuery,
        response: { 200: FilePageSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { q, ...listing } = request.query
      const origin = { ip: request.ip }
      const page = q === undefined ? await deps.access.list(request.caller, origin, listing) : await deps.access.search(request.caller, origin, { q, ...listing })
      return { files: page.files.map(toFileJson), next_cursor: page.nextCursor ?? null }
    },
  )
}
