import type { FastifyReply } from 'fastify'
import type { ChatTurn } from '../domain/chat/chat-service.js'
import { clientErrorOf } from '../errors.js'
import { logServerError } from './error-handler.js'
import { hijackKeepingHeaders } from './hijack.js'

/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000

/**
 * Sends a chat's reply as Server-Sent Events: `start` (the conversation and what was sent of each
 * file), `delta` per piece of text, then `done` with the whole reply once the turn is stored, or
 * `error` with Cabinet's `{error, code}` when the agent fails mid-way (the turn is then not stored).
 */
export async function streamChatReply(reply: FastifyReply, turn: ChatTurn, start: Record<string, unknown>): Promise<void> {
  hijackKeepingHeaders(reply)
  const raw = reply.raw
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    // nginx: pass each event on at once.
    'x-accel-buffering': 'no',
  })
  const send = (event: string, data: unknown) => {
    if (!raw.destroyed) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }
  const keepAlive = setInterval(() => {
    if (!raw.destroyed) raw.write(': keep-alive\n\n')
  }, KEEP_ALIVE_MS)
  send('start', start)
  let text = ''
  try {
    for await (const piece of turn.reply) {
      text += piece
      send('delta', { text: piece })
    }
    await turn.finish(text)
    send('done', { conversation_id: turn.conversationId, reply: text })
  } catch (thrown) {
    const error = clientErrorOf(thrown)
    if (error) {
      logServerError(reply.log, error)
      send('error', { error: error.message, code: error.code })
    } else if (!raw.destroyed) {
      reply.log.error({ err: thrown }, 'chat stream failed')
      send('error', { error: 'Internal server error', code: 'INTERNAL_ERROR' })
    }
  } finally {
    clearInterval(keepAlive)
    raw.end()
  }
}
