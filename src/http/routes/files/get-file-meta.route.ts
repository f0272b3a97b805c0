import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams, FileSchema, toFileJson } from '../../schemas.js'

export default function getFileMetaRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/files/:id/meta',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'A file\'s metadata',
        tags: ['files'],
        security: bearerSecurity,
        params: FileIdParams,
        response: { 200: FileSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      return toFileJson(await deps.access.readable(request.params.id, request.caller, { ip: request.ip }, 'file.meta'))
    },
  )
}
