import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { pipeline, Readable } from 'node:stream'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { Logger } from 'pino'
import type { AgentPart } from '../domain/chat/agent.js'
import { base64Length, base64Pieces } from '../domain/chat/base64.js'
import { AppError, ERRORS } from '../errors.js'

/** Where and how to reach the agent. */
export interface AgentHttpOptions {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:18789`. */
  readonly url: string
  /** `Authorization: Bearer` secret; never logged, never part of an error. */
  readonly token: string | undefined
  readonly model: string
  /** Longest wait for the answer to begin, and between two pieces of a streamed one. */
  readonly timeoutMs: number
}

/** A piece of a request body: JSON text, or a file's bytes written as base64 while they stream. */
export type BodyPiece = string | Extract<AgentPart, { kind: 'image' | 'document' }>

/** A JSON reply of the agent (not streamed) is never larger than this. */
const MAX_JSON_REPLY_BYTES = 4 * 1024 * 1024
/** Of an error reply, this much is logged. */
const LOGGED_ERROR_BYTES = 2048
/** A reply longer than this is cut off: an agent does not write a million characters to one message. */
const MAX_REPLY_CHARS = 1_000_000

/** An answer under way: its response, and what it takes to read it within the time limit. */
export interface AgentResponse {
  readonly response: IncomingMessage
  readonly streaming: boolean
  /** The reply text as pieces, parsed by the protocol's `onEvent` / `onJson`. */
  readonly pieces: AsyncIterable<string>
}

/** What a protocol makes of the agent's answer. */
export interface ReplyParser {
  /** One Server-Sent Event: the text it adds, 'end' at the end of the reply, undefined for events that add nothing. */
  onEvent(event: EventSourceMessage): string | 'end' | undefined
  /** The whole reply of a request that was not streamed. */
  onJson(body: unknown): string
}

/**
 * POSTs a body made of JSON text and streamed files to the agent, with a Content-Length counted
 * up front (base64 lengths are known from file sizes), so that no file is ever held whole. The
 * answer must begin within the time limit and, streamed, never stall longer than it; errors
 * become AGENT_UNAVAILABLE and AGENT_TIMEOUT, and a send the caller aborts rejects with its reason.
 */
export async function postToAgent(
  options: AgentHttpOptions & { readonly path: string; readonly stream: boolean; readonly signal: AbortSignal; readonly parser: ReplyParser },
  pieces: readonly BodyPiece[],
  logger: Logger,
): Promise<AgentResponse> {
  const url = new URL(`${options.url}${options.path}`)
  const length = pieces.reduce((sum, piece) => sum + (typeof piece === 'string' ? Buffer.byteLength(piece) : base64Length(piece.byteLength)), 0)
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(length),
    accept: options.stream ? 'text/event-stream' : 'application/json',
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`

  const timeout = new AbortController()
  const signal = AbortSignal.any([options.signal, timeout.signal])
  let timer: NodeJS.Timeout | undefined
  const arm = () => {
    clearTimeout(timer)
    timer = setTimeout(() => timeout.abort(), options.timeoutMs)
  }
  const failure = (error: unknown, answering = false): Error => {
    if (options.signal.aborted) return options.signal.reason instanceof Error ? options.signal.reason : new Error('The chat was cancelled')
    if (timeout.signal.aborted) return ERRORS.agentTimeout(options.timeoutMs)
    if (error instanceof AppError) return error
    if (answering) return ERRORS.agentUnavailable('its reply broke off before the end', error)
    // Network errors name their code (ECONNREFUSED, ECONNRESET); nothing of the request is quoted.
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name
    return ERRORS.agentUnavailable(`it could not be reached (${code || 'network error'})`, error)
  }

  arm()
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  const outgoing = send(url, { method: 'POST', headers, signal })
  let response: IncomingMessage
  try {
    response = await new Promise<IncomingMessage>((resolve, reject) => {
      outgoing.once('response', resolve)
      // Kept after the answer arrives: an agent that answers before reading the whole body makes later writes fail.
      outgoing.on('error', reject)
      // Either side failing destroys the other: a blob gone mid-read ends the request (rejecting above),
      // and a request that ends early (cancelled, timed out, answered) closes the blob it was reading.
      pipeline(Readable.from(body(pieces)), outgoing, () => {})
    })
  } catch (error) {
    clearTimeout(timer)
    throw failure(error)
  }

  if (response.statusCode === undefined || response.statusCode < 200 || response.statusCode >= 300) {
    const status = response.statusCode ?? 0
    const detail = await readSome(response, LOGGED_ERROR_BYTES).catch(() => '')
    clearTimeout(timer)
    // An agent that refuses early may never read the rest of the body: nothing is left waiting on it.
    response.destroy()
    outgoing.destroy()
    const redacted = options.token ? detail.replaceAll(options.token, '[redacted]') : detail
    logger.warn({ status, reply: redacted }, 'the agent refused a chat')
    throw ERRORS.agentUnavailable(status === 401 || status === 403 ? `it refused Cabinet's credentials (HTTP ${status}); check CABINET_AGENT_TOKEN` : `it answered HTTP ${status}`)
  }

  const streaming = options.stream && /^text\/event-stream/i.test(response.headers['content-type'] ?? '')
  async function* read(): AsyncGenerator<string> {
    let chars = 0
    const count = (text: string) => {
      chars += text.length
      if (chars > MAX_REPLY_CHARS) throw ERRORS.agentUnavailable(`its reply passed ${MAX_REPLY_CHARS} characters`)
      return text
    }
    try {
      if (!streaming) {
        const text = await readSome(response, MAX_JSON_REPLY_BYTES + 1, arm)
        if (Buffer.byteLength(text) > MAX_JSON_REPLY_BYTES) throw ERRORS.agentUnavailable('its reply was too large')
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          throw ERRORS.agentUnavailable('it sent a reply that is not JSON')
        }
        yield count(options.parser.onJson(json))
        return
      }
      const ready: Array<string | 'end'> = []
      const parser = createParser({ onEvent: (event) => void ready.push(options.parser.onEvent(event) ?? '') })
      response.setEncoding('utf8')
      for await (const chunk of response as AsyncIterable<string>) {
        arm()
        parser.feed(chunk)
        while (ready.length > 0) {
          const next = ready.shift()!
          if (next === 'end') return
          if (next) yield count(next)
        }
      }
      throw ERRORS.agentUnavailable('its reply broke off before the end')
    } catch (error) {
      throw failure(error, true)
    } finally {
      clearTimeout(timer)
      response.destroy()
    }
  }
  return { response, streaming, pieces: read() }
}

async function* body(pieces: readonly BodyPiece[]): AsyncGenerator<Buffer> {
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      yield Buffer.from(piece)
      continue
    }
    for await (const encoded of base64Pieces(await piece.open(), { maxBytes: piece.byteLength, exactBytes: piece.byteLength })) {
      yield Buffer.from(encoded, 'latin1')
    }
  }
}

/** The start of a response body as text, up to `maxBytes`; `onChunk` runs on each piece (to keep a timer alive). */
async function readSome(response: IncomingMessage, maxBytes: number, onChunk?: () => void): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of response as AsyncIterable<Buffer>) {
    onChunk?.()
    chunks.push(chunk)
    size += chunk.length
    if (size >= maxBytes) break
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8')
}

/** A JSON object's field, whatever the object. */
export function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined
}
