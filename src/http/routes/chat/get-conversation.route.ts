import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'
import { ConversationAttachmentSchema, ConversationIdParams, ConversationSummarySchema, toConversationAttachmentJson, toConversationSummaryJson } from './chat-schemas.js'

const MessageSchema = Type.Object({
  seq: Type.Integer({ description: 'Position in the conversation, from 1' }),
  role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
  content: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
})

export default function getConversationRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/chat/conversations/:id',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'One of the caller\'s conversations: its messages (the last ?messages=, default 100) and its files, deleted ones marked',
        tags: ['chat'],
        security: bearerSecurity,
        params: ConversationIdParams,
        querystring: Type.Object({ messages: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }),
        response: {
          200: Type.Composite([ConversationSummarySchema, Type.Object({ messages: Type.Array(MessageSchema), attachments: Type.Array(ConversationAttachmentSchema) })]),
          ...errorResponses(401, 403, 404),
        },
      },
    },
    async (request) => {
      const view = await deps.chat.view(request.params.id, request.caller, { ip: request.ip }, { messages: request.query.messages })
      return {
        ...toConversationSummaryJson(view.conversation),
        messages: view.messages.map((m) => ({ seq: m.seq, role: m.role, content: m.content, created_at: m.createdAt.toISOString() })),
        attachments: view.attachments.map(toConversationAttachmentJson),
      }
    },
  )
}
