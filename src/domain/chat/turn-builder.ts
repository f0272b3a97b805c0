import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { BlobStore } from '../../blob/blob-store.js'
import type { ChatRole, StoredFile } from '../../db/metadata-store.js'
import type { FileText } from '../extraction/extraction-service.js'
import type { AgentClient, AgentPart } from './agent.js'
import { base64Length } from './base64.js'
import { describeFile, formatBytes, IMAGE_KINDS } from './file-facts.js'
import { fitImage } from './image-fit.js'
import { fitSections, shareBudget, type FittedText, type TextSection } from './text-budget.js'

/** What one turn may send (see ChatConfig). */
export interface TurnLimits {
  readonly maxTextChars: number
  readonly maxFileBytes: number
  readonly maxImageBytes: number
  readonly maxBodyBytes: number
}

/** An attachment that is sent this turn, with its extraction once the wait is over (`pending` if it did not finish). */
export interface TurnAttachment {
  readonly file: StoredFile
  readonly text: FileText | undefined
}

/** An attachment of the conversation that is not sent any more. */
export interface MissingAttachment {
  readonly fileId: string
  readonly name: string
  readonly kind: string
  readonly sizeBytes: number
  /** `deleted`: the file is gone; `unreadable`: the caller may no longer read it (an API key's grant ended). */
  readonly reason: 'deleted' | 'unreadable'
}

/** How an attachment went to the agent this turn, as the chat's answer reports it. */
export interface AttachmentReport {
  readonly fileId: string
  readonly name: string
  readonly kind: string
  readonly sizeBytes: number
  /** Its text, its bytes (an image, or a PDF the agent reads itself), or nothing but Cabinet's note about it. */
  readonly sentAs: 'text' | 'image' | 'document' | 'none'
  /** Part of its text, or a smaller copy of the image, was sent. */
  readonly reduced: boolean
  readonly deleted: boolean
  /** What was sent, or why nothing was, for people (the agent reads the same). */
  readonly note: string
}

export interface BuiltTurn {
  readonly parts: AgentPart[]
  readonly history: Array<{ role: ChatRole; content: string }>
  readonly reports: AttachmentReport[]
}

/** Request-body bytes kept for the JSON around the parts. */
const BODY_RESERVE_BYTES = 8 * 1024
/** Per part, for its JSON fields. */
const PART_OVERHEAD_BYTES = 512
/** Smallest image worth sending; below it the agent gets the image's facts only. */
const MIN_IMAGE_BYTES = 16 * 1024
/** A PDF with fewer characters of text than this per page is a scan: the agent gets the PDF itself, to render. */
const SCANNED_PDF_CHARS_PER_PAGE = 10
/** At most this share of the text budget goes to earlier messages. */
const HISTORY_SHARE = 0.25

const TEXT_MEDIA_TYPES: Readonly<Record<string, string>> = { txt: 'text/plain', md: 'text/markdown', csv: 'text/csv', json: 'application/json' }

type Plan =
  | { readonly kind: 'text'; readonly sections: TextSection[] }
  | { readonly kind: 'image' }
  | { readonly kind: 'document'; readonly sections: TextSection[] }
  | { readonly kind: 'none'; readonly note: string }

/**
 * Turns a message and its files into what the agent receives, within the limits the agent
 * accepts (OpenClaw's gateway by default: files up to 5 MB, images up to 10 MB, a 20 MB body):
 * DOCX, XLSX and DOC as Cabinet's Markdown, PDFs as their text (a scanned one as the PDF itself),
 * text files as they are, images as they are or downsized, all text fitted to one budget that
 * each file shares fairly, with a note saying what was cut. Files that cannot be sent are still
 * named, with the reason, so the agent never silently misses one.
 */
export class TurnBuilder {
  constructor(
    private readonly blobs: BlobStore,
    private readonly limits: TurnLimits,
    private readonly logger: Logger,
  ) {}

  async build(input: {
    message: string
    history: ReadonlyArray<{ role: ChatRole; content: string }>
    attachments: readonly TurnAttachment[]
    missing: readonly MissingAttachment[]
    agent: Pick<AgentClient, 'acceptsDocuments' | 'encodedTextBytes'>
  }): Promise<BuiltTurn> {
    const { agent, limits } = { agent: input.agent, limits: this.limits }
    const history = trimHistory(input.history, Math.floor(limits.maxTextChars * HISTORY_SHARE))
    const historyChars = history.reduce((sum, m) => sum + m.content.length, 0)
    const plans = input.attachments.map((attachment) => plan(attachment, agent.acceptsDocuments))

    // Text first: it is what the agent reads best. Each text file gets its fair share of the budget.
    let textBudget = Math.max(0, limits.maxTextChars - historyChars)
    let bodyLeft = 0
    let fitted: Array<FittedText | undefined> = []
    const fixedBytes =
      BODY_RESERVE_BYTES +
      agent.encodedTextBytes(input.message) +
      history.reduce((sum, m) => sum + agent.encodedTextBytes(m.content) + PART_OVERHEAD_BYTES, 0) +
      (input.attachments.length + input.missing.length) * PART_OVERHEAD_BYTES
    for (let attempt = 0; attempt < 4; attempt++) {
      const lengths = plans.map((p) => (p.kind === 'text' ? totalLength(p.sections) : 0))
      const shares = shareBudget(lengths, textBudget)
      fitted = plans.map((p, i) => (p.kind === 'text' ? fitSections(p.sections, shares[i]!) : undefined))
      const textBytes = fitted.reduce((sum, f) => sum + (f ? agent.encodedTextBytes(f.text) + PART_OVERHEAD_BYTES : 0), 0)
      bodyLeft = limits.maxBodyBytes - fixedBytes - textBytes
      if (bodyLeft >= 0 || textBudget === 0) break
      // The texts alone would overflow the request: shrink their budget in proportion.
      textBudget = Math.floor((textBudget * Math.max(0, limits.maxBodyBytes - fixedBytes)) / (textBytes + 1))
    }
    bodyLeft = Math.max(0, bodyLeft)

    const parts: AgentPart[] = []
    const reports: AttachmentReport[] = []
    for (const [i, attachment] of input.attachments.entries()) {
      const { file, text } = attachment
      const facts = describeFile(file, text)
      const base = { fileId: file.id, name: file.originalName, kind: file.kind, sizeBytes: file.sizeBytes, deleted: false }
      const p = plans[i]!
      if (p.kind === 'none') {
        reports.push({ ...base, sentAs: 'none', reduced: false, note: `${facts}. ${p.note}` })
        continue
      }
      if (p.kind === 'text') {
        const f = fitted[i]!
        parts.push({ kind: 'text-file', fileId: file.id, ...textFileName(file), text: f.cut ? `${f.text}\n\n[Cabinet: ${cutNote(f, file.kind)}]` : f.text })
        const source = TEXT_MEDIA_TYPES[file.kind] ? 'its text' : `the ${file.kind === 'pdf' ? 'text' : 'Markdown'} Cabinet extracted`
        const note = f.cut ? `Sent ${source}, cut to fit: ${cutNote(f, file.kind)}` : `Sent ${source} in full${text?.truncated ? ' (Cabinet read only part of the file: a page, row or text cap of its extraction)' : ''}.`
        reports.push({ ...base, sentAs: 'text', reduced: f.cut, note: `${facts}. ${note}` })
        continue
      }
      const cap = Math.floor(((bodyLeft - PART_OVERHEAD_BYTES) * 3) / 4)
      if (p.kind === 'document') {
        const room = Math.min(limits.maxFileBytes, cap)
        if (file.sizeBytes <= room) {
          parts.push({ kind: 'document', fileId: file.id, filename: file.originalName, mediaType: 'application/pdf', byteLength: file.sizeBytes, open: () => this.open(file) })
          bodyLeft -= base64Length(file.sizeBytes) + PART_OVERHEAD_BYTES
          reports.push({ ...base, sentAs: 'document', reduced: false, note: `${facts}. Cabinet found almost no text in it (a scan?), so the PDF itself was sent for the agent to read.` })
        } else {
          reports.push({ ...base, sentAs: 'none', reduced: false, note: `${facts}. Cabinet found almost no text in it, and the PDF is larger than the ${formatBytes(room)} that can be sent, so only its name and facts were sent.` })
        }
        continue
      }
      // An image: as it is when it fits, else a smaller JPEG.
      const room = Math.min(limits.maxImageBytes, cap)
      if (file.sizeBytes <= room) {
        parts.push({ kind: 'image', fileId: file.id, filename: file.originalName, mediaType: file.mimeType, byteLength: file.sizeBytes, open: () => this.open(file) })
        bodyLeft -= base64Length(file.sizeBytes) + PART_OVERHEAD_BYTES
        reports.push({ ...base, sentAs: 'image', reduced: false, note: `${facts}. Sent as it is.` })
        continue
      }
      const smaller = room >= MIN_IMAGE_BYTES ? await this.downsize(file, room, text?.image) : undefined
      if (!smaller) {
        reports.push({ ...base, sentAs: 'none', reduced: false, note: `${facts}. Too large to send (the limit left is ${formatBytes(Math.max(0, room))}), so only its facts were sent.` })
        continue
      }
      const bytes = smaller.bytes
      parts.push({ kind: 'image', fileId: file.id, filename: file.originalName, mediaType: smaller.mediaType, byteLength: bytes.length, open: async () => [bytes] })
      bodyLeft -= base64Length(bytes.length) + PART_OVERHEAD_BYTES
      reports.push({
        ...base,
        sentAs: 'image',
        reduced: true,
        note: `${facts}. Downsized to ${smaller.width} × ${smaller.height} pixels (${formatBytes(bytes.length)} JPEG) to fit the ${formatBytes(room)} limit.`,
      })
    }
    for (const gone of input.missing) {
      const note = gone.reason === 'deleted' ? 'Deleted since it was attached: no longer sent.' : 'No longer readable by this caller: not sent.'
      reports.push({ fileId: gone.fileId, name: gone.name, kind: gone.kind, sizeBytes: gone.sizeBytes, sentAs: 'none', reduced: false, deleted: gone.reason === 'deleted', note })
    }

    const note = filesNote(reports)
    return { parts: [{ kind: 'text', text: input.message }, ...(note ? [{ kind: 'text' as const, text: note }] : []), ...parts], history, reports }
  }

  private async open(file: StoredFile): Promise<AsyncIterable<Buffer>> {
    return (await this.blobs.get(file.blobKey)) as AsyncIterable<Buffer>
  }

  private async downsize(file: StoredFile, maxBytes: number, facts: { width: number; height: number } | undefined): Promise<Awaited<ReturnType<typeof fitImage>>> {
    try {
      return await fitImage(async () => (await this.blobs.get(file.blobKey)) as Readable, maxBytes, facts ? { longestSide: Math.max(facts.width, facts.height) } : {})
    } catch (error) {
      this.logger.warn({ err: error, fileId: file.id }, 'could not downsize an image for the agent')
      return undefined
    }
  }
}

/** What to do with one attachment. */
function plan(attachment: TurnAttachment, acceptsDocuments: boolean): Plan {
  const { file, text } = attachment
  if (IMAGE_KINDS.has(file.kind)) return { kind: 'image' }
  if (!text || text.status === 'pending') return { kind: 'none', note: 'Cabinet is still reading this file, so its content is not in this message; ask again in a moment.' }
  if (text.status === 'failed') return { kind: 'none', note: `Cabinet could not read it${text.error ? `: ${text.error}` : ''}. Nothing of its content was sent.` }
  if (text.status === 'unsupported') return { kind: 'none', note: `Cabinet cannot read the content of ${file.kind.toUpperCase()} files yet; only its name and size were sent.` }
  const sections = sectionsOf(text)
  if (file.kind === 'pdf' && acceptsDocuments && isScan(text)) return { kind: 'document', sections }
  if (text.text.trim().length === 0) return { kind: 'none', note: 'Cabinet found no text in it.' }
  return { kind: 'text', sections }
}

function isScan(text: FileText): boolean {
  const pages = Math.max(1, text.pages?.length ?? 1)
  return text.text.replace(/\s+/gu, '').length < SCANNED_PDF_CHARS_PER_PAGE * pages
}

function sectionsOf(text: FileText): TextSection[] {
  if (text.pages) return text.pages.map((page) => ({ heading: `[Page ${page.number}]`, text: page.text }))
  if (text.sheets) return text.sheets.map((sheet) => ({ heading: `## Sheet: ${sheet.name}\n`, text: sheet.text }))
  return [{ heading: undefined, text: text.text }]
}

function totalLength(sections: readonly TextSection[]): number {
  return sections.reduce((sum, s, i) => sum + (s.heading === undefined ? 0 : s.heading.length + 1) + s.text.length + (i > 0 ? 2 : 0), 0)
}

function textFileName(file: StoredFile): { filename: string; mediaType: string } {
  const own = TEXT_MEDIA_TYPES[file.kind]
  if (own) return { filename: file.originalName, mediaType: own }
  return file.kind === 'pdf' ? { filename: `${file.originalName}.txt`, mediaType: 'text/plain' } : { filename: `${file.originalName}.md`, mediaType: 'text/markdown' }
}

function cutNote(fitted: FittedText, kind: string): string {
  const unit = kind === 'pdf' ? 'page' : 'sheet'
  const where =
    fitted.totalSections > 1
      ? `; ${fitted.wholeSections} of ${fitted.totalSections} ${unit}s whole${fitted.partialSection ? ` and ${unit} ${fitted.wholeSections + 1} in part` : ''}`
      : ''
  return `kept the first ${fitted.keptChars.toLocaleString('en-US')} of ${fitted.totalChars.toLocaleString('en-US')} characters${where}, to fit the chat's text budget`
}

/** The newest messages whose text fits `maxChars`, oldest first. */
function trimHistory(history: ReadonlyArray<{ role: ChatRole; content: string }>, maxChars: number): Array<{ role: ChatRole; content: string }> {
  const kept: Array<{ role: ChatRole; content: string }> = []
  let used = 0
  for (let i = history.length - 1; i >= 0; i--) {
    const message = history[i]!
    if (used + message.content.length > maxChars) break
    kept.unshift({ role: message.role, content: message.content })
    used += message.content.length
  }
  return kept
}

/** Cabinet's note to the agent: each file of the conversation, what was sent of it, or why not. */
function filesNote(reports: readonly AttachmentReport[]): string | undefined {
  if (reports.length === 0) return undefined
  const lines = reports.map((r, i) => `${i + 1}. ${r.name} (file_id ${r.fileId}): ${r.note}`)
  return `[Cabinet] Files attached to this conversation:\n${lines.join('\n')}`
}
