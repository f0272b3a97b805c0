import type { StoredFile } from '../../db/metadata-store.js'
import type { FileText } from '../extraction/extraction-service.js'

const KIND_LABELS: Readonly<Record<string, string>> = {
  pdf: 'PDF document',
  docx: 'Word document (DOCX)',
  doc: 'Word document (DOC)',
  xlsx: 'Excel workbook (XLSX)',
  xls: 'Excel workbook (XLS)',
  pptx: 'PowerPoint presentation (PPTX)',
  jpg: 'JPEG image',
  png: 'PNG image',
  gif: 'GIF image',
  webp: 'WebP image',
  txt: 'text file',
  md: 'Markdown file',
  csv: 'CSV file',
  json: 'JSON file',
}

export const IMAGE_KINDS: ReadonlySet<string> = new Set(['jpg', 'png', 'gif', 'webp'])

/** What a kind of file is, for people. */
export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? `${kind.toUpperCase()} file`
}

/** 1,234 bytes, 12.3 KB, 4.5 MB (powers of 1024). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes.toLocaleString('en-US')} bytes`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString('en-US')} ${count === 1 ? one : many}`
}

/** What Cabinet knows of a file, in one line: kind, size, pages or sheets or pixels, words. */
export function describeFile(file: Pick<StoredFile, 'kind' | 'sizeBytes'>, text: FileText | undefined): string {
  const facts = [kindLabel(file.kind), formatBytes(file.sizeBytes)]
  if (text?.pageCount !== undefined) facts.push(plural(text.pageCount, 'page'))
  if (text?.sheets) facts.push(`${plural(text.sheetCount ?? text.sheets.length, 'sheet')} (${text.sheets.map((sheet) => sheet.name).join(', ')})`)
  const image = text?.image
  if (image) {
    const rotated = image.orientation !== undefined && image.orientation >= 5
    facts.push(`${rotated ? image.height : image.width} × ${rotated ? image.width : image.height} pixels`)
    if (image.capturedAt) facts.push(`taken ${image.capturedAt}`)
  }
  if (text?.status === 'done' && !IMAGE_KINDS.has(file.kind)) facts.push(plural(text.wordCount, 'word'))
  return facts.join(', ')
}

/** The first non-empty lines of a text, each shortened, at most `maxChars` in all. */
export function openingLines(text: string, options: { lines: number; maxChars: number }): string[] {
  const lines: string[] = []
  let used = 0
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line) continue
    const room = Math.min(200, options.maxChars - used)
    if (room <= 0) break
    const shown = [...line].length > room ? `${[...line].slice(0, room - 1).join('')}…` : line
    lines.push(shown)
    used += [...shown].length
    if (lines.length >= options.lines) break
  }
  return lines
}
