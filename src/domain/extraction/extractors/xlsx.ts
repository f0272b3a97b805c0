import type { ExtractedPart, ExtractionResult } from '../extraction-types.js'
import { ExtractionFailure, TextBudget, type ExtractionLimits } from '../limits.js'
import { assertZipWithinBudget } from '../zip-guard.js'

/** A cell's value as people read it: formulas by their result, dates as ISO dates, rich text as plain text. */
function cellText(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Date) {
    const iso = value.toISOString()
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z')
  }
  if (typeof value === 'object') {
    const cell = value as { result?: unknown; richText?: Array<{ text: string }>; text?: unknown; hyperlink?: string; error?: string }
    if ('result' in cell) return cellText(cell.result)
    if (cell.richText) return cell.richText.map((run) => run.text).join('')
    if (cell.text !== undefined) return cellText(cell.text)
    if (cell.error) return cell.error
    return ''
  }
  return String(value)
}

/** Escapes what would break a Markdown table cell. */
function markdownCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>').trim()
}

/** A GitHub-flavoured Markdown table; the first row is the header. */
export function markdownTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return ''
  const width = Math.max(...rows.map((row) => row.length))
  const line = (row: readonly string[]) => `| ${Array.from({ length: width }, (_, i) => markdownCell(row[i] ?? '')).join(' | ')} |`
  return [line(rows[0]!), `|${' --- |'.repeat(width)}`, ...rows.slice(1).map(line)].join('\n')
}

/** Each sheet of an XLSX workbook as a Markdown table, up to `maxSheetRows` rows per sheet. */
export async function extractXlsx(bytes: Buffer, limits: ExtractionLimits): Promise<ExtractionResult> {
  await assertZipWithinBudget(bytes, limits.maxDecompressedBytes)
  const { default: ExcelJS } = await import('exceljs')
  const workbook = new ExcelJS.Workbook()
  try {
    await workbook.xlsx.load(bytes as unknown as ArrayBuffer)
  } catch (error) {
    throw new ExtractionFailure(`Not a readable Excel workbook: ${(error as Error).message}`, { cause: error })
  }
  const budget = new TextBudget(limits.maxTextChars)
  let rowsCut = false
  const parts: ExtractedPart[] = []
  for (const sheet of workbook.worksheets) {
    const rows: string[][] = []
    sheet.eachRow({ includeEmpty: false }, (row) => {
      if (rows.length >= limits.maxSheetRows) {
        rowsCut = true
        return
      }
      const values = Array.isArray(row.values) ? row.values.slice(1) : []
      rows.push(Array.from(values, cellText))
    })
    parts.push({ name: sheet.name, text: budget.take(markdownTable(rows)) })
  }
  return { layout: 'sheets', parts, facts: { sheetCount: workbook.worksheets.length, truncated: budget.truncated || rowsCut } }
}
