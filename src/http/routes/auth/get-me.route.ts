import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'

const Limit = Type.Union([Type.Integer(), Type.Null()], { description: 'null: no limit' })

const MeSchema = Type.Object({
  user_id: Type.String({ description: 'For an API key: its own space, key:<key id>' }),
  via: Type.Union([Type.Literal('token'), Type.Literal('trusted-header'), Type.Literal('api-key')]),
  admin: Type.Boolean(),
  usage: Type.Object({ bytes: Type.Integer(), files: Type.Integer() }),
  quota: Type.Object({ max_bytes: Limit, max_files: Limit }),
  key: Type.Optional(
    Type.Object({ id: Type.String(), name: Type.String(), scopes: Type.Array(Type.String()), all_users: Type.Boolean() }),
  ),
})

export default function getMeRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/me',
    {
      onRequest: deps.authenticate,
      config: { keyScope: 'any' },
      schema: {
        summary: 'Who the caller is, what they store and what they may store',
        tags: ['auth'],
        security: bearerSecurity,
        response: { 200: MeSchema, ...errorResponses(401) },
      },
    },
    async (request) => {
      const { caller } = request
      const status = await deps.quotas.status(caller.userId)
      return {
        user_id: caller.userId,
        via: caller.via,
        admin: caller.admin,
        usage: { bytes: status.usedBytes, files: status.usedFiles },
        quota: { max_bytes: status.maxBytes ?? null, max_files: status.maxFiles ?? null },
        ...(caller.key
          ? { key: { id: caller.key.id, name: caller.key.name, scopes: [...caller.key.scopes], all_users: caller.key.allUsers } }
          : {}),
      }
    },
  )
}
