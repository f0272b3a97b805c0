import type { ExtractionResult } from '../extraction-types.js'
import { ExtractionFailure, TextBudget, type ExtractionLimits } from '../limits.js'
import { assertZipWithinBudget } from '../zip-guard.js'

/** DOCX to Markdown: mammoth's HTML (headings, lists, tables, emphasis), then node-html-markdown. */
export async function extractDocx(bytes: Buffer, limits: ExtractionLimits): Promise<ExtractionResult> {
  await assertZipWithinBudget(bytes, limits.maxDecompressedBytes)
  const { default: mammoth } = await import('mammoth')
  const { NodeHtmlMarkdown } = await import('node-html-markdown')
  let html: string
  try {
    html = (await mammoth.convertToHtml({ buffer: bytes }, { ignoreEmptyParagraphs: true })).value
  } catch (error) {
    throw new ExtractionFailure(`Not a readable Word document: ${(error as Error).message}`, { cause: error })
  }
  // Images are left out: they would come back as multi-megabyte data: URLs.
  const markdown = NodeHtmlMarkdown.translate(html.replace(/<img\b[^>]*>/g, ''), { bulletMarker: '-', useInlineLinks: true }).trim()
  const budget = new TextBudget(limits.maxTextChars)
  const text = budget.take(markdown)
  return { layout: 'document', parts: [{ text }], facts: { truncated: budget.truncated } }
}
