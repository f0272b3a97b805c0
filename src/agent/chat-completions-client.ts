import type { Logger } from 'pino'
import type { AgentClient, AgentPart, AgentTurn } from '../domain/chat/agent.js'
import { ERRORS } from '../errors.js'
import { field, postToAgent, type AgentHttpOptions, type BodyPiece, type ReplyParser } from './agent-http.js'

/**
 * OpenAI Chat Completions, `POST /v1/chat/completions`
 * (https://platform.openai.com/docs/api-reference/chat/create), for agents other than OpenClaw:
 * the history as messages, then a user message whose content parts are `text` (files' text
 * among them, each in a `<file>` element) and `image_url` (a base64 data URL). Streamed replies
 * are `data: {"choices":[{"delta":{"content":…}}]}` events ending with `data: [DONE]`.
 */
export class ChatCompletionsClient implements AgentClient {
  readonly acceptsDocuments = false

  constructor(
    private readonly options: AgentHttpOptions,
    private readonly logger: Logger,
  ) {}

  encodedTextBytes(text: string): number {
    return Buffer.byteLength(JSON.stringify(text))
  }

  async send(turn: AgentTurn, options: { stream: boolean; signal: AbortSignal }): Promise<AsyncIterable<string>> {
    const history = turn.history.map((message) => `${JSON.stringify({ role: message.role, content: message.content })},`)
    const parts = turn.parts.flatMap((part, i) => [...(i > 0 ? [','] : []), ...partPieces(part)])
    const pieces: BodyPiece[] = [
      `{"model":${JSON.stringify(this.options.model)},"user":${JSON.stringify(turn.sessionKey)},"stream":${options.stream},"messages":[`,
      ...history,
      '{"role":"user","content":[',
      ...parts,
      ']}]}',
    ]
    const answer = await postToAgent({ ...this.options, path: '/v1/chat/completions', stream: options.stream, signal: options.signal, parser: CHAT_COMPLETIONS_REPLY }, pieces, this.logger)
    return answer.pieces
  }
}

function partPieces(part: AgentPart): BodyPiece[] {
  switch (part.kind) {
    case 'text':
      return [JSON.stringify({ type: 'text', text: part.text })]
    case 'text-file':
      return [JSON.stringify({ type: 'text', text: `<file name=${JSON.stringify(part.filename)} file_id="${part.fileId}">\n${part.text}\n</file>` })]
    case 'image':
      return [`{"type":"image_url","image_url":{"url":"data:${part.mediaType};base64,`, part, '"}}']
    case 'document':
      throw new Error('Chat Completions takes no documents; the turn builder sends their text instead')
  }
}

function choiceText(body: unknown, key: 'delta' | 'message'): string | undefined {
  const choices = field(body, 'choices')
  const content = Array.isArray(choices) ? field(field(choices[0], key), 'content') : undefined
  return typeof content === 'string' ? content : undefined
}

const CHAT_COMPLETIONS_REPLY: ReplyParser = {
  onEvent(event) {
    if (event.data.trim() === '[DONE]') return 'end'
    let data: unknown
    try {
      data = JSON.parse(event.data)
    } catch {
      return undefined
    }
    if (field(data, 'error') !== undefined) throw ERRORS.agentUnavailable('it reported an error in its reply')
    return choiceText(data, 'delta')
  },
  onJson(body) {
    if (field(body, 'error') !== undefined) throw ERRORS.agentUnavailable('it reported an error')
    const text = choiceText(body, 'message')
    if (text === undefined) throw ERRORS.agentUnavailable('it sent a reply without a message')
    return text
  },
}
