import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'
import { ConversationIdParams } from './chat-schemas.js'

export default function deleteConversationRoute(app: App, deps: RouteDeps): void {
  app.delete(
    '/api/chat/conversations/:id',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'Delete one of the caller\'s conversations with its messages (the files stay)',
        tags: ['chat'],
        security: bearerSecurity,
        params: ConversationIdParams,
        response: { 204: { description: 'Deleted', type: 'null' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await deps.chat.delete(request.params.id, request.caller)
      return reply.status(204).send()
    },
  )
}
