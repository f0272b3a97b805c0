import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { errorResponses } from '../../schemas.js'
import { SessionSchema, SIGN_IN_BODY_LIMIT_BYTES, toSessionJson } from './session-schemas.js'

const Body = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$', description: 'The code from wx.login()' }),
})

export default function wechatLoginRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/api/auth/wechat',
    {
      bodyLimit: SIGN_IN_BODY_LIMIT_BYTES,
      schema: {
        summary: 'Sign in with the code from wx.login(): Cabinet asks WeChat (jscode2session) and answers a session token',
        tags: ['auth'],
        body: Body,
        response: { 200: SessionSchema, ...errorResponses(400, 401, 403, 429, 502, 503, 504) },
      },
    },
    async (request) => toSessionJson(await deps.sessions.signInWithWechat(request.body.code)),
  )
}
