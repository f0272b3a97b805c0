import type { Kysely } from 'kysely'

/**
 * Chat (issue 5): conversations, their messages, and the files attached to them.
 *
 * An attachment names its file without a foreign key on purpose: deleting a file must not
 * break the conversation that mentioned it. The attachment row stays (with the name and size
 * it had), shows as deleted, and is no longer sent to the agent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('conversations')
    .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(128)', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    // Messages so far; bumped by each turn in the transaction that adds it, so that turns never share a seq.
    .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('conversations_user').on('conversations').columns(['user_id', 'updated_at']).execute()

  await db.schema
    .createTable('chat_messages')
    .addColumn('conversation_id', 'varchar(32)', (c) => c.notNull().references('conversations.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('role', 'varchar(16)', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('chat_messages_pk', ['conversation_id', 'seq'])
    .execute()

  await db.schema
    .createTable('conversation_attachments')
    .addColumn('conversation_id', 'varchar(32)', (c) => c.notNull().references('conversations.id').onDelete('cascade'))
    .addColumn('file_id', 'varchar(32)', (c) => c.notNull())
    .addColumn('original_name', 'text', (c) => c.notNull())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('added_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('conversation_attachments_pk', ['conversation_id', 'file_id'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('conversation_attachments').execute()
  await db.schema.dropTable('chat_messages').execute()
  await db.schema.dropTable('conversations').execute()
}
