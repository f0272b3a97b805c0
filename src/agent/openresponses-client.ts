import type { Logger } from 'pino'
import type { AgentClient, AgentPart, AgentTurn } from '../domain/chat/agent.js'
import { base64Length } from '../domain/chat/base64.js'
import { ERRORS } from '../errors.js'
import { field, postToAgent, type AgentHttpOptions, type BodyPiece, type ReplyParser } from './agent-http.js'

/**
 * OpenClaw's OpenResponses endpoint, `POST /v1/responses` on the gateway
 * (https://docs.openclaw.ai/gateway/openresponses-http-api): item-based `input` whose last user
 * message carries `input_text`, `input_file` and `input_image` parts, files and images inline as
 * base64 sources (the gateway refuses to fetch URLs on private addresses), `model:
 * "openclaw/<agentId>"`, and `user`, from which the gateway derives a stable session. Streamed
 * replies are Server-Sent Events: `response.output_text.delta` … `response.completed`.
 */
export class OpenResponsesClient implements AgentClient {
  readonly acceptsDocuments = true

  constructor(
    private readonly options: AgentHttpOptions,
    private readonly logger: Logger,
  ) {}

  encodedTextBytes(text: string): number {
    return base64Length(Buffer.byteLength(text))
  }

  async send(turn: AgentTurn, options: { stream: boolean; signal: AbortSignal }): Promise<AsyncIterable<string>> {
    const history = turn.history.map((message) => `${JSON.stringify({ type: 'message', role: message.role, content: message.content })},`)
    const parts = turn.parts.flatMap((part, i) => [...(i > 0 ? [','] : []), ...partPieces(part)])
    const pieces: BodyPiece[] = [
      `{"model":${JSON.stringify(this.options.model)},"user":${JSON.stringify(turn.sessionKey)},"stream":${options.stream},"input":[`,
      ...history,
      '{"type":"message","role":"user","content":[',
      ...parts,
      ']}]}',
    ]
    const answer = await postToAgent({ ...this.options, path: '/v1/responses', stream: options.stream, signal: options.signal, parser: OPENRESPONSES_REPLY }, pieces, this.logger)
    return answer.pieces
  }
}

function partPieces(part: AgentPart): BodyPiece[] {
  switch (part.kind) {
    case 'text':
      return [JSON.stringify({ type: 'input_text', text: part.text })]
    case 'text-file':
      return [
        JSON.stringify({
          type: 'input_file',
          source: { type: 'base64', media_type: part.mediaType, data: Buffer.from(part.text).toString('base64'), filename: part.filename },
        }),
      ]
    case 'image':
      return [`{"type":"input_image","source":{"type":"base64","media_type":${JSON.stringify(part.mediaType)},"data":"`, part, '"}}']
    case 'document':
      return [
        `{"type":"input_file","source":{"type":"base64","media_type":${JSON.stringify(part.mediaType)},"filename":${JSON.stringify(part.filename)},"data":"`,
        part,
        '"}}',
      ]
  }
}

const OPENRESPONSES_REPLY: ReplyParser = {
  onEvent(event) {
    if (event.data === '[DONE]') return 'end'
    let data: unknown
    try {
      data = JSON.parse(event.data)
    } catch {
      return undefined
    }
    const type = event.event ?? field(data, 'type')
    if (type === 'response.output_text.delta') return typeof field(data, 'delta') === 'string' ? (field(data, 'delta') as string) : undefined
    if (type === 'response.completed') return 'end'
    if (type === 'response.failed' || type === 'error') throw ERRORS.agentUnavailable('it reported that the response failed')
    return undefined
  },
  onJson(body) {
    if (field(body, 'status') === 'failed') throw ERRORS.agentUnavailable('it reported that the response failed')
    const output = field(body, 'output')
    if (!Array.isArray(output)) throw ERRORS.agentUnavailable('it sent a reply without output')
    return output
      .filter((item) => field(item, 'type') === 'message')
      .flatMap((item) => (Array.isArray(field(item, 'content')) ? (field(item, 'content') as unknown[]) : []))
      .filter((content) => field(content, 'type') === 'output_text' && typeof field(content, 'text') === 'string')
      .map((content) => field(content, 'text') as string)
      .join('')
  },
}
