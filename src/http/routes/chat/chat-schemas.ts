import { Type, type Static } from '@sinclair/typebox'
import type { ConversationAttachmentRecord, ConversationRecord } from '../../../db/metadata-store.js'
import type { AttachmentReport } from '../../../domain/chat/turn-builder.js'

export const AttachmentReportSchema = Type.Object(
  {
    file_id: Type.String(),
    name: Type.String(),
    type: Type.String({ description: 'The file type, e.g. pdf' }),
    size: Type.Integer({ description: 'Bytes' }),
    sent_as: Type.Union([Type.Literal('text'), Type.Literal('image'), Type.Literal('document'), Type.Literal('none')], {
      description: 'text: its text (Markdown for DOCX/XLSX/DOC); image: its pixels; document: the PDF itself (a scan); none: only Cabinet\'s note about it',
    }),
    reduced: Type.Boolean({ description: 'Its text was cut to fit the budget, or the image was downsized' }),
    deleted: Type.Boolean({ description: 'Deleted since it was attached: no longer sent' }),
    note: Type.String({ description: 'What was sent, or why nothing was (the agent reads the same note)' }),
  },
  { $id: 'ChatAttachment', title: 'ChatAttachment' },
)

export function toAttachmentReportJson(report: AttachmentReport): Static<typeof AttachmentReportSchema> {
  return {
    file_id: report.fileId,
    name: report.name,
    type: report.kind,
    size: report.sizeBytes,
    sent_as: report.sentAs,
    reduced: report.reduced,
    deleted: report.deleted,
    note: report.note,
  }
}

export const ConversationSummarySchema = Type.Object({
  conversation_id: Type.String(),
  title: Type.String({ description: 'The start of the first message' }),
  message_count: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
})

export function toConversationSummaryJson(conversation: ConversationRecord): Static<typeof ConversationSummarySchema> {
  return {
    conversation_id: conversation.id,
    title: conversation.title,
    message_count: conversation.messageCount,
    created_at: conversation.createdAt.toISOString(),
    updated_at: conversation.updatedAt.toISOString(),
  }
}

export const ConversationAttachmentSchema = Type.Object({
  file_id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  size: Type.Integer(),
  attached_at: Type.String({ format: 'date-time' }),
  deleted: Type.Boolean({
    description:
      'The file is gone for the caller: deleted or, for an API key, no longer readable (told apart from neither). The conversation keeps its name; follow-ups no longer send it',
  }),
})

export function toConversationAttachmentJson(attachment: ConversationAttachmentRecord): Static<typeof ConversationAttachmentSchema> {
  return {
    file_id: attachment.fileId,
    name: attachment.originalName,
    type: attachment.kind,
    size: attachment.sizeBytes,
    attached_at: attachment.addedAt.toISOString(),
    deleted: !attachment.available,
  }
}

export const ConversationIdParams = Type.Object({ id: Type.String({ description: 'The conversation_id a chat answered' }) })
