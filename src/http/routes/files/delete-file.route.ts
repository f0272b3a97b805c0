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
        response: { 204: { description: 'Deleted', type: 'null' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deps.access.delete(request.params.id, request.caller, { ip: request.ip })
      return reply.status(204).send()
    },
  )
}
