import { describeFile, IMAGE_KINDS, openingLines } from './file-facts.js'
import type { AttachmentReport, MissingAttachment, TurnAttachment } from './turn-builder.js'

/**
 * Cabinet's own answer when no agent is configured: deterministic, and saying so. Per file, what
 * it is, its size, pages, sheets or pixels, its word count and its opening lines, from Cabinet's
 * extraction.
 */
export function fallbackReply(attachments: readonly TurnAttachment[], missing: readonly MissingAttachment[]): { text: string; reports: AttachmentReport[] } {
  const intro = 'No AI agent is configured on this Cabinet server (CABINET_AGENT_URL), so this answer comes from Cabinet\'s own reading of the files.'
  if (attachments.length === 0 && missing.length === 0) return { text: `${intro}\n\nNo files are attached to this conversation.`, reports: [] }
  const reports: AttachmentReport[] = []
  const entries = attachments.map(({ file, text }, i) => {
    const facts = describeFile(file, text)
    let detail = ''
    if (!IMAGE_KINDS.has(file.kind)) {
      if (!text || text.status === 'pending') detail = ' Cabinet is still reading it; ask again in a moment.'
      else if (text.status === 'failed') detail = ` Cabinet could not read it${text.error ? `: ${text.error}` : ''}.`
      else if (text.status === 'unsupported') detail = ` Cabinet cannot read ${file.kind.toUpperCase()} files yet.`
      else {
        const lines = openingLines(text.text, { lines: 3, maxChars: 400 })
        detail = lines.length > 0 ? `\n   Opens with:\n${lines.map((line) => `   > ${line}`).join('\n')}` : ' It holds no text.'
      }
    }
    reports.push({ fileId: file.id, name: file.originalName, kind: file.kind, sizeBytes: file.sizeBytes, sentAs: 'none', reduced: false, deleted: false, note: `${facts}.` })
    return `${i + 1}. ${file.originalName}: ${facts}.${detail}`
  })
  for (const gone of missing) {
    const note = gone.reason === 'deleted' ? 'Deleted since it was attached.' : 'No longer readable by this caller.'
    reports.push({ fileId: gone.fileId, name: gone.name, kind: gone.kind, sizeBytes: gone.sizeBytes, sentAs: 'none', reduced: false, deleted: gone.reason === 'deleted', note })
    entries.push(`${entries.length + 1}. ${gone.name}: ${note}`)
  }
  return { text: `${intro}\n\n${entries.join('\n')}`, reports }
}
