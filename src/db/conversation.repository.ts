import { sql, type Kysely, type Selectable } from 'kysely'
import type { ChatMessagesTable, ConversationsTable, Database } from './database.js'
import type {
  ChatMessageRecord,
  ChatRole,
  ConversationAttachmentRecord,
  ConversationExport,
  ConversationRecord,
  ConversationRepository,
  NewConversationAttachment,
} from './metadata-store.js'

function conversationRowToRecord(row: Selectable<ConversationsTable>): ConversationRecord {
  return {
    id: row.id,
    userId: row.user_id,
    title: row.title,
    messageCount: Number(row.message_count),
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  }
}

function messageRowToRecord(row: Pick<Selectable<ChatMessagesTable>, 'seq' | 'role' | 'content' | 'created_at'>): ChatMessageRecord {
  return { seq: Number(row.seq), role: row.role, content: row.content, createdAt: new Date(Number(row.created_at)) }
}

/** Rows per INSERT when importing: well inside both databases' limits on bound parameters. */
const IMPORT_BATCH = 200

export class KyselyConversationRepository implements ConversationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async recordTurn(
    id: string,
    turn: {
      create?: { userId: string; title: string }
      attachments: readonly NewConversationAttachment[]
      messages: ReadonlyArray<{ role: ChatRole; content: string }>
      at: Date
    },
  ): Promise<boolean> {
    const at = turn.at.getTime()
    return this.db.transaction().execute(async (trx) => {
      if (turn.create) {
        await trx
          .insertInto('conversations')
          .values({ id, user_id: turn.create.userId, title: turn.create.title, message_count: 0, created_at: at, updated_at: at })
          .execute()
      }
      // The row update takes the conversation's lock, so a concurrent turn waits and numbers after this one.
      const row = await trx
        .updateTable('conversations')
        .set({ message_count: sql<number>`message_count + ${turn.messages.length}`, updated_at: at })
        .where('id', '=', id)
        .returning('message_count')
        .executeTakeFirst()
      if (!row) return false
      await insertAttachments(trx, id, turn.attachments, at)
      const first = Number(row.message_count) - turn.messages.length + 1
      if (turn.messages.length > 0) {
        await trx
          .insertInto('chat_messages')
          .values(turn.messages.map((message, i) => ({ conversation_id: id, seq: first + i, role: message.role, content: message.content, created_at: at })))
          .execute()
      }
      return true
    })
  }

  async find(id: string, userId: string): Promise<ConversationRecord | undefined> {
    const row = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst()
    return row && conversationRowToRecord(row)
  }

  async messages(id: string, options: { limit: number }): Promise<ChatMessageRecord[]> {
    const rows = await this.db
      .selectFrom('chat_messages')
      .select(['seq', 'role', 'content', 'created_at'])
      .where('conversation_id', '=', id)
      .orderBy('seq', 'desc')
      .limit(options.limit)
      .execute()
    return rows.reverse().map(messageRowToRecord)
  }

  async attachments(id: string): Promise<ConversationAttachmentRecord[]> {
    const rows = await this.db
      .selectFrom('conversation_attachments as a')
      .leftJoin('files as f', (join) => join.onRef('f.id', '=', 'a.file_id').on('f.status', '=', 'ready'))
      .select(['a.file_id', 'a.original_name', 'a.kind', 'a.size_bytes', 'a.added_at', 'f.id as ready_id'])
      .where('a.conversation_id', '=', id)
      .orderBy('a.added_at')
      .orderBy('a.file_id')
      .execute()
    return rows.map((row) => ({
      fileId: row.file_id,
      originalName: row.original_name,
      kind: row.kind,
      sizeBytes: Number(row.size_bytes),
      addedAt: new Date(Number(row.added_at)),
      available: row.ready_id !== null,
    }))
  }

  async list(userId: string, options: { limit: number; before?: { updatedAtMs: number; id: string } }): Promise<ConversationRecord[]> {
    let select = this.db.selectFrom('conversations').selectAll().where('user_id', '=', userId)
    const before = options.before
    if (before) {
      select = select.where((eb) =>
        eb.or([eb('updated_at', '<', before.updatedAtMs), eb.and([eb('updated_at', '=', before.updatedAtMs), eb('id', '<', before.id)])]),
      )
    }
    const rows = await select.orderBy('updated_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute()
    return rows.map(conversationRowToRecord)
  }

  async remove(id: string, userId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('conversations').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst()
    return Number(result.numDeletedRows) > 0
  }

  async exportPage(options: { afterId?: string; limit: number }): Promise<ConversationExport[]> {
    // One snapshot (SQLite's read transaction is one already): a conversation deleted meanwhile is not half read.
    return this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute((trx) => exportConversations(trx, options))
  }

  async import({ conversation, messages, attachments }: ConversationExport): Promise<{ created: boolean; messages: number }> {
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('conversations').select(['message_count', 'updated_at']).where('id', '=', conversation.id).executeTakeFirst()
      if (!existing) {
        await trx
          .insertInto('conversations')
          .values({
            id: conversation.id,
            user_id: conversation.userId,
            title: conversation.title,
            message_count: conversation.messageCount,
            created_at: conversation.createdAt.getTime(),
            updated_at: conversation.updatedAt.getTime(),
          })
          .execute()
      } else if (conversation.messageCount > Number(existing.message_count)) {
        await trx
          .updateTable('conversations')
          .set({ message_count: conversation.messageCount, updated_at: Math.max(conversation.updatedAt.getTime(), Number(existing.updated_at)) })
          .where('id', '=', conversation.id)
          .execute()
      }
      let added = 0
      for (let start = 0; start < messages.length; start += IMPORT_BATCH) {
        const result = await trx
          .insertInto('chat_messages')
          .values(
            messages.slice(start, start + IMPORT_BATCH).map((m) => ({
              conversation_id: conversation.id,
              seq: m.seq,
              role: m.role,
              content: m.content,
              created_at: m.createdAt.getTime(),
            })),
          )
          .onConflict((oc) => oc.columns(['conversation_id', 'seq']).doNothing())
          .executeTakeFirst()
        added += Number(result.numInsertedOrUpdatedRows ?? 0)
      }
      for (let start = 0; start < attachments.length; start += IMPORT_BATCH) {
        await trx
          .insertInto('conversation_attachments')
          .values(
            attachments.slice(start, start + IMPORT_BATCH).map((a) => ({
              conversation_id: conversation.id,
              file_id: a.fileId,
              original_name: a.originalName,
              kind: a.kind,
              size_bytes: a.sizeBytes,
              added_at: a.addedAt.getTime(),
            })),
          )
          .onConflict((oc) => oc.columns(['conversation_id', 'file_id']).doNothing())
          .execute()
      }
      return { created: !existing, messages: added }
    })
  }
}

async function insertAttachments(db: Kysely<Database>, conversationId: string, attachments: readonly NewConversationAttachment[], at: number): Promise<void> {
  if (attachments.length === 0) return
  await db
    .insertInto('conversation_attachments')
    .values(
      attachments.map((a, i) => ({
        conversation_id: conversationId,
        file_id: a.fileId,
        original_name: a.originalName,
        kind: a.kind,
        size_bytes: a.sizeBytes,
        // In the order given, so that a turn's files are listed as the caller named them.
        added_at: at + i,
      })),
    )
    .onConflict((oc) => oc.columns(['conversation_id', 'file_id']).doNothing())
    .execute()
}

async function exportConversations(db: Kysely<Database>, options: { afterId?: string; limit: number }): Promise<ConversationExport[]> {
  let select = db.selectFrom('conversations').selectAll()
  if (options.afterId !== undefined) select = select.where('id', '>', options.afterId)
  const rows = await select.orderBy('id').limit(options.limit).execute()
  const exported: ConversationExport[] = []
  for (const row of rows) {
    const conversation = conversationRowToRecord(row)
    const messages = await db
      .selectFrom('chat_messages')
      .select(['seq', 'role', 'content', 'created_at'])
      .where('conversation_id', '=', conversation.id)
      .where('seq', '<=', conversation.messageCount)
      .orderBy('seq')
      .execute()
    const attachments = await db
      .selectFrom('conversation_attachments')
      .select(['file_id', 'original_name', 'kind', 'size_bytes', 'added_at'])
      .where('conversation_id', '=', conversation.id)
      .orderBy('added_at')
      .orderBy('file_id')
      .execute()
    exported.push({
      conversation,
      messages: messages.map(messageRowToRecord),
      attachments: attachments.map((a) => ({
        fileId: a.file_id,
        originalName: a.original_name,
        kind: a.kind,
        sizeBytes: Number(a.size_bytes),
        addedAt: new Date(Number(a.added_at)),
      })),
    })
  }
  return exported
}
