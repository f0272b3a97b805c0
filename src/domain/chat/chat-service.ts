import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { ChatMessageRecord, ConversationAttachmentRecord, ConversationRecord, ConversationRepository, StoredFile } from '../../db/metadata-store.js'
import { AppError, ERRORS } from '../../errors.js'
import type { ApiKeyService } from '../auth/api-key-service.js'
import type { FileAccess } from '../auth/file-access.js'
import type { GrantService } from '../auth/grant-service.js'
import type { Caller, RequestOrigin } from '../auth/identity.js'
import type { ExtractionService } from '../extraction/extraction-service.js'
import type { AgentClient } from './agent.js'
import { fallbackReply } from './fallback-reply.js'
import type { AttachmentReport, MissingAttachment, TurnAttachment, TurnBuilder } from './turn-builder.js'

const CONVERSATION_ID = /^[0-9a-f]{32}$/
/** Earlier messages read for a turn; the turn builder keeps those that fit its budget. */
const HISTORY_MESSAGES = 40
const TITLE_CHARS = 80

export interface ChatServiceOptions {
  readonly maxMessageChars: number
  readonly maxAttachments: number
  readonly extractionWaitMs: number
  /** The API key the agent calls Cabinet back with (name or id): attached files are granted to it. */
  readonly agentKey: string | undefined
  readonly grantTtlSeconds: number
}

export interface ChatRequest {
  readonly caller: Caller
  readonly origin: RequestOrigin
  readonly message: string
  /** Files to attach now (ids); files attached earlier in the conversation are sent again without being named. */
  readonly attachments: readonly string[]
  readonly conversationId?: string
  readonly stream: boolean
  /** Aborts the turn, the agent's request included (the client went away). */
  readonly signal: AbortSignal
}

/** A turn under way: the agent has accepted it and its reply is arriving. */
export interface ChatTurn {
  readonly conversationId: string
  /** What was sent of each of the conversation's files, or why not. */
  readonly attachments: readonly AttachmentReport[]
  /** False when no agent is configured and Cabinet answers from its own extraction. */
  readonly fromAgent: boolean
  /** The reply, piece by piece. */
  readonly reply: AsyncIterable<string>
  /** Stores the turn (the message, the whole reply, the new attachments); the conversation exists from then on. */
  finish(reply: string): Promise<void>
}

/** A conversation as its owner sees it. */
export interface ConversationView {
  readonly conversation: ConversationRecord
  readonly messages: ChatMessageRecord[]
  readonly attachments: ConversationAttachmentRecord[]
}

/**
 * `POST /api/chat`: a message and files to the agent, within one conversation. A caller chats
 * about files it may read (a user: their own; an API key with the `chat` scope: what FileAccess
 * lets it read); anything else answers 404, exactly like a missing file. Each turn waits a bounded
 * time for its files' extraction, sends every file of the conversation that is still there (so a
 * follow-up keeps its attachments without naming them again), and is stored only once the reply is
 * complete, so a failed or cancelled turn leaves the conversation as it was.
 */
export class ChatService {
  private warnedAboutKey = false

  constructor(
    private readonly conversations: ConversationRepository,
    private readonly access: FileAccess,
    private readonly extraction: ExtractionService,
    private readonly grants: GrantService,
    private readonly keys: ApiKeyService,
    private readonly builder: TurnBuilder,
    private readonly agent: AgentClient | undefined,
    private readonly options: ChatServiceOptions,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async start(request: ChatRequest): Promise<ChatTurn> {
    const { caller, origin } = request
    const message = request.message
    if (message.trim() === '') throw ERRORS.badRequest('message must not be empty')
    if (message.length > this.options.maxMessageChars) throw ERRORS.messageTooLong(this.options.maxMessageChars)
    const requested = [...new Set(request.attachments)]
    if (requested.length > this.options.maxAttachments) {
      throw ERRORS.tooManyAttachments(`At most ${this.options.maxAttachments} files may be attached to a conversation; this message names ${requested.length}`)
    }

    const existing = request.conversationId === undefined ? undefined : await this.find(request.conversationId, caller.userId)
    const conversationId = existing?.id ?? randomBytes(16).toString('hex')
    const fresh: StoredFile[] = []
    for (const id of requested) fresh.push(await this.access.readable(id, caller, origin, 'chat.attach'))

    // Files attached earlier go again, as long as they are still there and the caller may still read them.
    const earlier: StoredFile[] = []
    const missing: MissingAttachment[] = []
    if (existing) {
      for (const attachment of await this.conversations.attachments(existing.id)) {
        if (requested.includes(attachment.fileId)) continue
        const gone = { fileId: attachment.fileId, name: attachment.originalName, kind: attachment.kind, sizeBytes: attachment.sizeBytes }
        if (!attachment.available) {
          // An API key is not told that a file it can no longer read was deleted: for another user's
          // file, that would tell "deleted" from "still there, access ended".
          missing.push({ ...gone, reason: caller.key ? 'unreadable' : 'deleted' })
          continue
        }
        const file = await this.readableOrNone(attachment.fileId, caller, origin, 'chat.read')
        if (file) earlier.push(file)
        else missing.push({ ...gone, reason: 'unreadable' })
      }
    }
    const files = [...earlier, ...fresh]
    if (files.length > this.options.maxAttachments) {
      throw ERRORS.tooManyAttachments(
        `A conversation may hold at most ${this.options.maxAttachments} files; this one has ${earlier.length} and the message adds ${fresh.length}. Start a new conversation`,
      )
    }

    if (this.agent) await this.grantToAgent(files, caller, origin)
    const attachments = await this.waitForExtraction(files, request.signal)
    const history = existing ? await this.conversations.messages(existing.id, { limit: HISTORY_MESSAGES }) : []

    let reply: AsyncIterable<string>
    let reports: AttachmentReport[]
    if (this.agent) {
      const turn = await this.builder.build({ message, history, attachments, missing, agent: this.agent })
      reports = turn.reports
      reply = await this.agent.send(
        { sessionKey: `cabinet:${caller.userId}:${conversationId}`, history: turn.history, parts: turn.parts },
        { stream: request.stream, signal: request.signal },
      )
    } else {
      const fallback = fallbackReply(attachments, missing)
      reports = fallback.reports
      reply = (async function* () {
        yield fallback.text
      })()
    }

    return {
      conversationId,
      attachments: reports,
      fromAgent: this.agent !== undefined,
      reply,
      finish: async (text) => {
        const recorded = await this.conversations.recordTurn(conversationId, {
          ...(existing ? {} : { create: { userId: caller.userId, title: titleOf(message) } }),
          attachments: fresh.map((file) => ({ fileId: file.id, originalName: file.originalName, kind: file.kind, sizeBytes: file.sizeBytes })),
          messages: [
            { role: 'user', content: message },
            { role: 'assistant', content: text },
          ],
          at: this.now(),
        })
        // Deleted while the agent answered: the reply was given, there is nothing left to keep it in.
        if (!recorded) this.logger.info({ conversationId }, 'conversation deleted during a turn; the turn was not stored')
      },
    }
  }

  /**
   * The caller's conversation with its messages and attachments; CONVERSATION_NOT_FOUND for anyone else's.
   * For an API key, an attachment it may no longer read shows as unavailable exactly like a deleted one.
   */
  async view(id: string, caller: Caller, origin: RequestOrigin, options: { messages: number }): Promise<ConversationView> {
    const conversation = await this.find(id, caller.userId)
    const [messages, stored] = await Promise.all([
      this.conversations.messages(conversation.id, { limit: options.messages }),
      this.conversations.attachments(conversation.id),
    ])
    const attachments = caller.key ? await Promise.all(stored.map((attachment) => this.asSeenBy(attachment, caller, origin))) : stored
    return { conversation, messages, attachments }
  }

  private async asSeenBy(attachment: ConversationAttachmentRecord, caller: Caller, origin: RequestOrigin): Promise<ConversationAttachmentRecord> {
    if (!attachment.available) return attachment
    const readable = await this.readableOrNone(attachment.fileId, caller, origin, 'chat.view')
    return readable ? attachment : { ...attachment, available: false }
  }

  /** The file if the caller may read it now; undefined where FileAccess answers FILE_NOT_FOUND. */
  private readableOrNone(fileId: string, caller: Caller, origin: RequestOrigin, action: string): Promise<StoredFile | undefined> {
    return this.access.readable(fileId, caller, origin, action).catch((error: unknown) => {
      if (error instanceof AppError && error.code === 'FILE_NOT_FOUND') return undefined
      throw error
    })
  }

  /** The caller's conversations, most recently active first. */
  async list(caller: Caller, query: { limit: number; cursor?: string }): Promise<{ conversations: ConversationRecord[]; nextCursor: string | undefined }> {
    const before = query.cursor === undefined ? undefined : decodeCursor(query.cursor)
    const rows = await this.conversations.list(caller.userId, { limit: query.limit + 1, ...(before ? { before } : {}) })
    const page = rows.slice(0, query.limit)
    const last = page.at(-1)
    return { conversations: page, nextCursor: rows.length > query.limit && last ? encodeCursor(last) : undefined }
  }

  /** Deletes the caller's conversation with its messages; the attached files stay. */
  async delete(id: string, caller: Caller): Promise<void> {
    if (!CONVERSATION_ID.test(id) || !(await this.conversations.remove(id, caller.userId))) throw ERRORS.conversationNotFound()
  }

  private async find(id: string, userId: string): Promise<ConversationRecord> {
    const conversation = CONVERSATION_ID.test(id) ? await this.conversations.find(id, userId) : undefined
    if (!conversation) throw ERRORS.conversationNotFound()
    return conversation
  }

  /** Each file's extraction, waiting for the pending ones together, at most the configured time in all. */
  private async waitForExtraction(files: readonly StoredFile[], signal: AbortSignal): Promise<TurnAttachment[]> {
    const texts = await Promise.all(files.map((file) => this.extraction.waitFor(file.id, { timeoutMs: this.options.extractionWaitMs, signal })))
    return files.map((file, i): TurnAttachment => ({ file, text: texts[i] }))
  }

  /**
   * Lets the agent's own API key read the caller's attached files (for its MCP calls) while the
   * chat goes on: a grant per file, renewed once less than half of it is left.
   */
  private async grantToAgent(files: readonly StoredFile[], caller: Caller, origin: RequestOrigin): Promise<void> {
    const name = this.options.agentKey
    if (!name) return
    const key = await this.keys.findActive(name)
    if (!key) {
      if (!this.warnedAboutKey) this.logger.warn({ key: name }, 'CABINET_AGENT_KEY names no active API key; attached files are not granted to the agent')
      this.warnedAboutKey = true
      return
    }
    const renewBefore = this.now().getTime() + (this.options.grantTtlSeconds * 1000) / 2
    for (const file of files) {
      // Only an owner grants; a key chatting about files granted to it passes none on.
      if (file.userId !== caller.userId) continue
      const current = await this.grants.mayRead(key.id, file.id)
      if (current && current.expiresAt.getTime() > renewBefore) continue
      await this.grants.grant({ fileId: file.id, ownerId: caller.userId, key: key.id, ttlSeconds: this.options.grantTtlSeconds, origin, action: 'chat.attach' })
    }
  }
}

function titleOf(message: string): string {
  const line = message.trim().split('\n')[0]!.trim()
  return [...line].length > TITLE_CHARS ? `${[...line].slice(0, TITLE_CHARS - 1).join('')}…` : line
}

function encodeCursor(conversation: ConversationRecord): string {
  return Buffer.from(`c.${conversation.updatedAt.getTime()}.${conversation.id}`).toString('base64url')
}

function decodeCursor(cursor: string): { updatedAtMs: number; id: string } {
  const match = /^c\.(\d{1,15})\.([0-9a-f]{32})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'))
  if (!match) throw ERRORS.badRequest('Invalid cursor: pass the next_cursor value of the previous page')
  return { updatedAtMs: Number(match[1]), id: match[2]! }
}
