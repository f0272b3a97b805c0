import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { ExtractedPart, ExtractionResult } from '../extraction-types.js'
import { ExtractionFailure, TextBudget, type ExtractionLimits } from '../limits.js'
import { assertPdfWithinBudget } from '../pdf-guard.js'

const require = createRequire(import.meta.url)
/** The installed pdfjs-dist's own CMaps and standard fonts: without the CMaps, CID-keyed Chinese text comes out empty. */
const PDFJS_DIR = dirname(require.resolve('pdfjs-dist/package.json'))

interface TextItem {
  readonly str?: string
  readonly hasEOL?: boolean
}

/** Text per page with pdf.js, up to `maxPages` pages. */
export async function extractPdf(bytes: Buffer, limits: ExtractionLimits): Promise<ExtractionResult> {
  assertPdfWithinBudget(bytes, limits.maxDecompressedBytes)
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs')
  const task = pdfjs.getDocument({
    data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    cMapUrl: join(PDFJS_DIR, 'cmaps') + '/',
    cMapPacked: true,
    standardFontDataUrl: join(PDFJS_DIR, 'standard_fonts') + '/',
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    stopAtErrors: false,
    verbosity: 0,
  })
  let document
  try {
    document = await task.promise
  } catch (error) {
    await task.destroy()
    throw new ExtractionFailure(`Not a readable PDF: ${(error as Error).message}`, { cause: error })
  }
  try {
    const budget = new TextBudget(limits.maxTextChars)
    const pageCount = document.numPages
    const parts: ExtractedPart[] = []
    for (let number = 1; number <= Math.min(pageCount, limits.maxPages) && !budget.exhausted; number++) {
      const page = await document.getPage(number)
      const content = await page.getTextContent()
      let text = ''
      for (const item of content.items as TextItem[]) text += (item.str ?? '') + (item.hasEOL ? '\n' : '')
      parts.push({ text: budget.take(text.trim()) })
      page.cleanup()
    }
    const truncated = budget.truncated || parts.length < pageCount
    return { layout: 'pages', parts, facts: { pageCount, truncated } }
  } catch (error) {
    throw new ExtractionFailure(`Could not read the PDF's text: ${(error as Error).message}`, { cause: error })
  } finally {
    await document.destroy()
  }
}
