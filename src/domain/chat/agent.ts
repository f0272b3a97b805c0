import type { ChatRole } from '../../db/metadata-store.js'

/** One piece of a turn as Cabinet hands it to the agent. */
export type AgentPart =
  /** The user's message, or Cabinet's note about the attached files. */
  | { readonly kind: 'text'; readonly text: string }
  /** A file's text (as extracted by Cabinet, or a text file's own), sent as a file where the protocol takes files. */
  | { readonly kind: 'text-file'; readonly fileId: string; readonly filename: string; readonly mediaType: string; readonly text: string }
  /**
   * A file's bytes: an image, or a document the agent reads itself (a PDF without text). `open`
   * streams exactly `byteLength` bytes, which the client encodes as it sends, never holding them whole.
   */
  | {
      readonly kind: 'image' | 'document'
      readonly fileId: string
      readonly filename: string
      readonly mediaType: string
      readonly byteLength: number
      open(): Promise<AsyncIterable<Buffer> | Iterable<Buffer>>
    }

/** A conversation's turn, ready to send. */
export interface AgentTurn {
  /** Stable per Cabinet user and conversation, so the agent keeps one session for each. */
  readonly sessionKey: string
  /** Earlier messages, oldest first. */
  readonly history: ReadonlyArray<{ readonly role: ChatRole; readonly content: string }>
  readonly parts: readonly AgentPart[]
}

/**
 * The AI agent behind `POST /api/chat`: OpenClaw's OpenResponses endpoint or an OpenAI Chat
 * Completions one (src/agent/). Its errors are AGENT_UNAVAILABLE and AGENT_TIMEOUT; a send the
 * caller aborts rejects with the signal's reason.
 */
export interface AgentClient {
  /** The protocol takes documents (PDF) in their own bytes; otherwise only text and images. */
  readonly acceptsDocuments: boolean
  /** Bytes a text adds to the request body once encoded for the protocol (base64, or a JSON string). */
  encodedTextBytes(text: string): number
  /**
   * Sends the turn. Resolves once the agent has accepted it (HTTP 2xx), with its reply as pieces
   * of text in order (one piece when `stream` is false); iterating fails with AGENT_UNAVAILABLE when
   * the reply breaks off, and AGENT_TIMEOUT when it stalls.
   */
  send(turn: AgentTurn, options: { readonly stream: boolean; readonly signal: AbortSignal }): Promise<AsyncIterable<string>>
}
