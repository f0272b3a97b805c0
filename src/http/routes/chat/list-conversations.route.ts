import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'
import { ConversationSummarySchema, toConversationSummaryJson } from './chat-schemas.js'

export default function listConversationsRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/chat/conversations',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'The caller\'s conversations, most recently active first',
        tags: ['chat'],
        security: bearerSecurity,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 200, description: 'next_cursor from the previous page' })),
        }),
        response: {
          200: Type.Object({ conversations: Type.Array(ConversationSummarySchema), next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const page = await deps.chat.list(request.caller, request.query)
      return { conversations: page.conversations.map(toConversationSummaryJson), next_cursor: page.nextCursor ?? null }
    },
  )
}
