import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams } from '../../schemas.js'
import { toGrantJson } from './grant-schemas.js'

export default function createGrantRoute(app: App, deps: RouteDeps): void {
  const { grantTtlSeconds, grantMaxTtlSeconds } = deps.config
  const Body = Type.Object({
    key: Type.String({ minLength: 1, maxLength: 64, description: 'The API key\'s id or name' }),
    ttl: Type.Optional(Type.Integer({ minimum: 1, maximum: grantMaxTtlSeconds, description: `Seconds the grant lasts; default ${grantTtlSeconds}` })),
  })
  app.post(
    '/api/files/:id/grants',
    {
      onRequest: deps.authenticate,
      config: { keyScope: false },
      schema: {
        summary: 'Let an API key (an agent) read this file until the grant expires or is revoked; owner only',
        tags: ['grants'],
        security: bearerSecurity,
        params: FileIdParams,
        body: Body,
        response: { 201: { $ref: 'Grant#' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const grant = await deps.grants.grant({
        fileId: request.params.id,
        ownerId: request.caller.userId,
        key: request.body.key,
        ...(request.body.ttl === undefined ? {} : { ttlSeconds: request.body.ttl }),
        origin: { ip: request.ip },
      })
      return reply.status(201).send(toGrantJson(grant))
    },
  )
}
