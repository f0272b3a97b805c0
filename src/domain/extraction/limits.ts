/** Caps that every extraction runs under; a file over one ends `failed` (or capped, where noted). */
export interface ExtractionLimits {
  /** PDF pages read; later pages are left out and the result is marked truncated. */
  readonly maxPages: number
  /** Bytes a file may decompress to (ZIP entries of DOCX/XLSX, PDF streams); over it, the extraction fails. */
  readonly maxDecompressedBytes: number
  /** Characters of text kept per file; the rest is left out and the result is marked truncated. */
  readonly maxTextChars: number
  /** Rows read per sheet of a workbook; the rest is left out and the result is marked truncated. */
  readonly maxSheetRows: number
}

/** The file itself cannot be extracted (malformed, a bomb, over a limit): retrying will not help. */
export class ExtractionFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ExtractionFailure'
  }
}

/** Hands out at most `maxChars` characters across calls, remembering whether anything was cut. */
export class TextBudget {
  private remaining: number
  truncated = false

  constructor(maxChars: number) {
    this.remaining = maxChars
  }

  get exhausted(): boolean {
    return this.remaining <= 0
  }

  take(text: string): string {
    if (text.length <= this.remaining) {
      this.remaining -= text.length
      return text
    }
    this.truncated = true
    const kept = text.slice(0, Math.max(0, this.remaining))
    this.remaining = 0
    return kept
  }
}
