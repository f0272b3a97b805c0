import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { errorResponses } from '../../schemas.js'
import { SessionSchema, SIGN_IN_BODY_LIMIT_BYTES, toSessionJson } from './session-schemas.js'

const Body = Type.Object({ user_id: Type.String({ minLength: 1, maxLength: 128 }) })

export default function devLoginRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/api/auth/dev',
    {
      bodyLimit: SIGN_IN_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Sign in as any user, for trying Cabinet out: only when the server runs with CABINET_DEV_LOGIN=1',
        tags: ['auth'],
        body: Body,
        response: { 200: SessionSchema, ...errorResponses(400, 403, 429) },
      },
    },
    async (request) => toSessionJson(await deps.sessions.signInForDev(request.body.user_id)),
  )
}
