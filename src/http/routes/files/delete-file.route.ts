import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams } from '../../schemas.js'

export default function deleteFileRoute(app: App, deps: RouteDeps): void {
  app.delete(
    '/api/files/:id',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'Delete a file: its bytes and its metadata',
        tags: ['files'],
        security: bearerSecurity,
        params: FileIdParams,
        response: { 204: { description: 'Deleted', type: 'null' }, ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      await deps.files.delete(request.params.id, request.caller.userId)
      return reply.status(204).send()
    },
  )
}
