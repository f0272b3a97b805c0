import type { ExtractionResult } from '../extraction-types.js'
import { ExtractionFailure, TextBudget, type ExtractionLimits } from '../limits.js'

/** Legacy Word (.doc, OLE2) body text with word-extractor. */
export async function extractDoc(bytes: Buffer, limits: ExtractionLimits): Promise<ExtractionResult> {
  const { default: WordExtractor } = await import('word-extractor')
  let body: string
  try {
    body = (await new WordExtractor().extract(bytes)).getBody()
  } catch (error) {
    throw new ExtractionFailure(`Not a readable Word 97-2003 document: ${(error as Error).message}`, { cause: error })
  }
  const budget = new TextBudget(limits.maxTextChars)
  const text = budget.take(body.replace(/\r\n?/g, '\n').trim())
  return { layout: 'document', parts: [{ text }], facts: { truncated: budget.truncated } }
}
