import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { z } from 'zod'

/** What the stand-in does with the next request. */
export type AgentBehaviour =
  /** Answers `text` (streamed in three pieces when asked to stream). */
  | { kind: 'reply'; text?: string }
  /** Answers this HTTP status with an error body, the way the gateway reports errors. */
  | { kind: 'status'; status: number }
  /** Never answers. */
  | { kind: 'hang' }
  /** Streams these pieces, then drops the connection without finishing. */
  | { kind: 'cut'; pieces: string[] }
  /** Streams `pieces` pieces, one every `everyMs`. */
  | { kind: 'slow'; pieces: number; everyMs: number }

/** A request as the stand-in received it. */
export interface RecordedRequest {
  readonly path: string
  readonly headers: IncomingMessage['headers']
  /** The parsed JSON body. */
  readonly body: Record<string, unknown>
  readonly bytes: number
  /** Set once the client closed the connection before the answer was complete. */
  closedEarly: boolean
}

// The gateway's limits (its defaults): https://docs.openclaw.ai/gateway/openresponses-http-api
const MAX_BODY_BYTES = 20_000_000
const MAX_FILE_BYTES = 5 * 1024 * 1024
const MAX_IMAGE_BYTES = 10 * 1024 * 1024
const FILE_MIMES = ['text/plain', 'text/markdown', 'text/html', 'text/csv', 'application/json', 'application/pdf']
const IMAGE_MIMES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp']

// OpenClaw's OpenResponses request schema (src/gateway/open-responses.schema.ts), strict like the gateway's.
const InputPart = z.discriminatedUnion('type', [
  z.object({ type: z.literal('input_text'), text: z.string() }).strict(),
  z.object({ type: z.literal('input_image'), source: z.object({ type: z.literal('base64'), media_type: z.enum(IMAGE_MIMES), data: z.string().min(1) }).strict() }).strict(),
  z.object({ type: z.literal('input_file'), source: z.object({ type: z.literal('base64'), media_type: z.string().min(1), data: z.string().min(1), filename: z.string().optional() }).strict() }).strict(),
])
const OpenResponsesBody = z
  .object({
    model: z.string(),
    input: z.union([z.string(), z.array(z.object({ type: z.literal('message'), role: z.enum(['system', 'developer', 'user', 'assistant']), content: z.union([z.string(), z.array(InputPart)]) }).strict())]),
    stream: z.boolean().optional(),
    user: z.string().optional(),
    instructions: z.string().optional(),
  })
  .strict()

// OpenAI Chat Completions: text and image_url parts.
const ChatPart = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }).strict(),
  z.object({ type: z.literal('image_url'), image_url: z.object({ url: z.string().regex(/^data:image\/(jpeg|png|gif|webp);base64,[A-Za-z0-9+/]+=*$/) }).strict() }).strict(),
])
const ChatCompletionsBody = z
  .object({
    model: z.string(),
    messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.union([z.string(), z.array(ChatPart)]) }).strict()).min(1),
    stream: z.boolean().optional(),
    user: z.string().optional(),
  })
  .strict()

/**
 * A local HTTP server that speaks what Cabinet's agents speak: OpenClaw's OpenResponses
 * `POST /v1/responses` (input items with input_text, input_file and input_image parts as base64
 * sources; SSE `response.output_text.delta` … `response.completed`, then `data: [DONE]`) and
 * OpenAI's `POST /v1/chat/completions` (text and image_url parts; SSE `data: {choices:[{delta}]}`
 * … `data: [DONE]`). It checks the bearer token and validates every body against the gateway's
 * schema and limits, as the real gateway would, and records what it received.
 */
export class AgentStandIn {
  readonly token = `gw-${randomBytes(16).toString('hex')}`
  readonly requests: RecordedRequest[] = []
  private readonly queue: AgentBehaviour[] = []
  private readonly sockets = new Set<import('node:net').Socket>()

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<AgentStandIn> {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const standIn = new AgentStandIn(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    server.on('connection', (socket) => {
      standIn.sockets.add(socket)
      socket.on('close', () => standIn.sockets.delete(socket))
    })
    server.on('request', (request, response) => void standIn.handle(request, response))
    return standIn
  }

  /** What the next request gets (in order); without one, a reply. */
  next(...behaviours: AgentBehaviour[]): void {
    this.queue.push(...behaviours)
  }

  get last(): RecordedRequest {
    const last = this.requests.at(-1)
    if (!last) throw new Error('the agent stand-in received nothing')
    return last
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    this.server.close()
    await once(this.server, 'close')
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0]!
    const fail = (status: number, message: string) => {
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ error: { message, type: status === 401 ? 'unauthorized' : 'invalid_request_error' } }))
    }
    if (request.method !== 'POST' || (path !== '/v1/responses' && path !== '/v1/chat/completions')) return fail(404, 'not found')
    const chunks: Buffer[] = []
    let bytes = 0
    for await (const chunk of request as AsyncIterable<Buffer>) {
      bytes += chunk.length
      if (bytes <= MAX_BODY_BYTES) chunks.push(chunk)
    }
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
    } catch {
      // recorded as an empty body; refused below
    }
    const recorded: RecordedRequest = { path, headers: request.headers, body, bytes, closedEarly: false }
    this.requests.push(recorded)
    response.on('close', () => {
      if (!response.writableFinished) recorded.closedEarly = true
    })
    if (request.headers.authorization !== `Bearer ${this.token}`) return fail(401, 'Unauthorized')
    if (bytes > MAX_BODY_BYTES) return fail(413, 'Payload too large')
    const problem = path === '/v1/responses' ? checkOpenResponses(body) : checkChatCompletions(body)
    if (problem) return fail(400, problem)

    const behaviour = this.queue.shift() ?? { kind: 'reply' }
    const streaming = body.stream === true
    const protocol = path === '/v1/responses' ? 'responses' : 'chat'
    switch (behaviour.kind) {
      case 'status':
        return fail(behaviour.status, 'agent run failed')
      case 'hang':
        return
      case 'reply': {
        const text = behaviour.text ?? `Received ${bytes} bytes.`
        if (!streaming) return json(response, protocol === 'responses' ? responseResource(text) : completion(text))
        const third = Math.ceil(text.length / 3)
        startStream(response, protocol)
        for (const piece of [text.slice(0, third), text.slice(third, 2 * third), text.slice(2 * third)]) writeDelta(response, protocol, piece)
        return endStream(response, protocol, text)
      }
      case 'cut':
        startStream(response, protocol)
        for (const piece of behaviour.pieces) writeDelta(response, protocol, piece)
        await new Promise((resolve) => setTimeout(resolve, 50))
        response.socket?.destroy()
        return
      case 'slow':
        startStream(response, protocol)
        for (let i = 0; i < behaviour.pieces && !response.destroyed; i++) {
          writeDelta(response, protocol, `piece ${i} `)
          await new Promise((resolve) => setTimeout(resolve, behaviour.everyMs))
        }
        if (!response.destroyed) endStream(response, protocol, '')
    }
  }
}

function checkOpenResponses(body: unknown): string | undefined {
  const parsed = OpenResponsesBody.safeParse(body)
  if (!parsed.success) return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')
  if (typeof parsed.data.input === 'string') return undefined
  for (const item of parsed.data.input) {
    if (typeof item.content === 'string') continue
    for (const part of item.content) {
      if (part.type === 'input_file') {
        if (!FILE_MIMES.includes(part.source.media_type)) return `input_file: media type ${part.source.media_type} is not allowed`
        if (Buffer.from(part.source.data, 'base64').length > MAX_FILE_BYTES) return 'input_file: larger than 5 MB'
      }
      if (part.type === 'input_image' && Buffer.from(part.source.data, 'base64').length > MAX_IMAGE_BYTES) return 'input_image: larger than 10 MB'
    }
  }
  return undefined
}

function checkChatCompletions(body: unknown): string | undefined {
  const parsed = ChatCompletionsBody.safeParse(body)
  return parsed.success ? undefined : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')
}

function json(response: ServerResponse, body: unknown): void {
  response.writeHead(200, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

function responseResource(text: string, status = 'completed') {
  return {
    id: 'resp_standin',
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    model: 'openclaw/main',
    output: [{ type: 'message', id: 'msg_standin', role: 'assistant', content: [{ type: 'output_text', text }], status: 'completed' }],
    usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
  }
}

function completion(text: string) {
  return { id: 'chatcmpl-standin', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] }
}

function startStream(response: ServerResponse, protocol: 'responses' | 'chat'): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  if (protocol === 'responses') {
    for (const type of ['response.created', 'response.in_progress']) {
      response.write(`event: ${type}\ndata: ${JSON.stringify({ type, response: responseResource('', 'in_progress') })}\n\n`)
    }
  }
}

function writeDelta(response: ServerResponse, protocol: 'responses' | 'chat', delta: string): void {
  if (protocol === 'responses') {
    const event = { type: 'response.output_text.delta', item_id: 'msg_standin', output_index: 0, content_index: 0, delta }
    response.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
  } else {
    response.write(`data: ${JSON.stringify({ id: 'chatcmpl-standin', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: delta }, finish_reason: null }] })}\n\n`)
  }
}

function endStream(response: ServerResponse, protocol: 'responses' | 'chat', text: string): void {
  if (protocol === 'responses') {
    const done = { type: 'response.output_text.done', item_id: 'msg_standin', output_index: 0, content_index: 0, text }
    response.write(`event: ${done.type}\ndata: ${JSON.stringify(done)}\n\n`)
    response.write(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: responseResource(text) })}\n\n`)
  } else {
    response.write(`data: ${JSON.stringify({ id: 'chatcmpl-standin', object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`)
  }
  response.end('data: [DONE]\n\n')
}
