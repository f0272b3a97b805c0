import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams } from '../../schemas.js'
import { toGrantJson } from './grant-schemas.js'

export default function listGrantsRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/files/:id/grants',
    {
      onRequest: deps.authenticate,
      config: { keyScope: false },
      schema: {
        summary: 'The file\'s grants to API keys, newest first, expired and revoked ones included; owner only',
        tags: ['grants'],
        security: bearerSecurity,
        params: FileIdParams,
        response: { 200: Type.Object({ grants: Type.Array(Type.Ref('Grant')) }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const grants = await deps.grants.list({ fileId: request.params.id, ownerId: request.caller.userId })
      return { grants: grants.map((grant) => toGrantJson(grant)) }
    },
  )
}
