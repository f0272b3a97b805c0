import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'

export default function logoutRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/api/auth/logout',
    {
      onRequest: deps.authenticate,
      config: { keyScope: false },
      schema: {
        summary: 'Sign out: revokes the token this request carries, at once',
        tags: ['auth'],
        security: bearerSecurity,
        response: { 204: { description: 'Signed out', type: 'null' }, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      await deps.sessions.signOut(request.caller)
      return reply.status(204).send()
    },
  )
}
