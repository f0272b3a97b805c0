import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams, FileSchema, toFileJson } from '../../schemas.js'

export default function getFileMetaRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/files/:id/meta',
    {
      schema: {
        summary: 'A file\'s metadata',
        tags: ['files'],
        security: bearerSecurity,
        params: FileIdParams,
        response: { 200: FileSchema, ...errorResponses(401, 404) },
      },
    },
    async (request) => {
      const caller = await deps.authenticate(request)
      return toFileJson(await deps.files.getForUser(request.params.id, caller.userId))
    },
  )
}
