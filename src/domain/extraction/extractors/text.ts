import type { ExtractionResult } from '../extraction-types.js'
import { TextBudget, type ExtractionLimits } from '../limits.js'

/** Plain text, Markdown, CSV and JSON as they are, decoded as UTF-8 (a BOM is dropped). */
export function extractText(bytes: Buffer, limits: ExtractionLimits): ExtractionResult {
  let text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false }).decode(bytes)
  // The caller reads at most a few bytes per allowed character: a multi-byte character may be cut at the end.
  if (text.endsWith('\uFFFD')) text = text.replace(/\uFFFD+$/, '')
  const budget = new TextBudget(limits.maxTextChars)
  const kept = budget.take(text.replace(/\r\n?/g, '\n'))
  return { layout: 'document', parts: [{ text: kept }], facts: { truncated: budget.truncated } }
}
