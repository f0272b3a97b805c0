import { Type } from '@sinclair/typebox'
import type { ChatTurn } from '../../../domain/chat/chat-service.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'
import { streamChatReply } from '../../sse.js'
import { toAttachmentReportJson } from './chat-schemas.js'

const ChatReplySchema = Type.Object({
  reply: Type.String(),
  conversation_id: Type.String({ description: 'Send it back with a follow-up; the conversation keeps its files' }),
  from_agent: Type.Boolean({ description: 'False: no agent is configured, and Cabinet described the files itself' }),
  attachments: Type.Array(Type.Ref('ChatAttachment'), { description: 'What was sent of each file of the conversation, or why nothing was' }),
})

export default function chatRoute(app: App, deps: RouteDeps): void {
  const { maxMessageChars, maxAttachments } = deps.config.chat
  const Body = Type.Object({
    message: Type.String({ description: `Up to ${maxMessageChars} characters (longer: 413 MESSAGE_TOO_LONG)` }),
    attachments: Type.Optional(
      Type.Array(Type.Object({ file_id: Type.String({ maxLength: 64 }) }), {
        maxItems: 1000,
        description: `Files to attach: the caller's own (an API key: those it may read). A conversation holds up to ${maxAttachments}`,
      }),
    ),
    conversation_id: Type.Optional(Type.String({ maxLength: 64, description: 'Continue this conversation (earlier files are sent again)' })),
    stream: Type.Optional(Type.Boolean({ description: 'Answer as Server-Sent Events: start, delta…, done (or error)' })),
  })
  app.post(
    '/api/chat',
    {
      onRequest: deps.authenticate,
      // Room for the longest message in UTF-8, and the rest of the body.
      bodyLimit: maxMessageChars * 4 + 64 * 1024,
      schema: {
        summary: 'Chat with the AI agent about your files: JSON {reply, conversation_id}, or Server-Sent Events with stream:true',
        tags: ['chat'],
        security: bearerSecurity,
        body: Body,
        response: { 200: ChatReplySchema, ...errorResponses(400, 401, 403, 404, 413, 502, 504) },
      },
    },
    async (request, reply) => {
      // The client going away cancels the turn, the agent's request with it.
      const cancel = new AbortController()
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) cancel.abort(new Error('The client closed the connection'))
      })
      const body = request.body
      try {
        const turn: ChatTurn = await deps.chat.start({
          caller: request.caller,
          origin: { ip: request.ip },
          message: body.message,
          attachments: (body.attachments ?? []).map((a) => a.file_id),
          ...(body.conversation_id === undefined ? {} : { conversationId: body.conversation_id }),
          stream: body.stream === true,
          signal: cancel.signal,
        })
        const attachments = turn.attachments.map(toAttachmentReportJson)
        if (body.stream === true) return await streamChatReply(reply, turn, { conversation_id: turn.conversationId, from_agent: turn.fromAgent, attachments })
        let text = ''
        for await (const piece of turn.reply) text += piece
        await turn.finish(text)
        return { reply: text, conversation_id: turn.conversationId, from_agent: turn.fromAgent, attachments }
      } catch (error) {
        // Nobody is left to answer: the client went away, and the turn ended with it.
        if (cancel.signal.aborted) return reply.hijack()
        throw error
      }
    },
  )
}
