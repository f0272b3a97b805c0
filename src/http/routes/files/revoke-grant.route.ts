import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'

const Params = Type.Object({ id: Type.String(), grantId: Type.String({ description: 'grant_id from the grant' }) })

export default function revokeGrantRoute(app: App, deps: RouteDeps): void {
  app.delete(
    '/api/files/:id/grants/:grantId',
    {
      onRequest: deps.authenticate,
      config: { keyScope: false },
      schema: {
        summary: 'Revoke a grant at once: the key can no longer read the file; owner only',
        tags: ['grants'],
        security: bearerSecurity,
        params: Params,
        response: { 204: { description: 'Revoked', type: 'null' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deps.grants.revoke({ fileId: request.params.id, ownerId: request.caller.userId, grantId: request.params.grantId, origin: { ip: request.ip } })
      return reply.status(204).send()
    },
  )
}
