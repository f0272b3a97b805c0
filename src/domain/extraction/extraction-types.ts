/** What extraction found in a file; shared by the workers, the domain and the metadata port. */

/** How a file's text is divided: PDF pages, spreadsheet sheets, one document, or none (images, unsupported kinds). */
export type ExtractionLayout = 'pages' | 'sheets' | 'document' | 'none'

/** Facts read from an image's header, without decoding its pixels. */
export interface ImageFacts {
  /** 'jpg', 'png', 'gif', 'webp'. */
  readonly format: string
  /** Stored pixel size, before any EXIF rotation. */
  readonly width: number
  readonly height: number
  /** EXIF orientation 1–8, when the image has one. 5–8 mean it displays rotated by 90°. */
  readonly orientation?: number
  /** EXIF DateTimeOriginal (or CreateDate) as written by the camera, ISO 8601 without a zone unless the file gives one. */
  readonly capturedAt?: string
  /** Whether the EXIF data holds a GPS position (the position itself is never exposed). */
  readonly hasGps: boolean
}

export interface ExtractionFacts {
  /** Pages in the PDF, including any beyond the page cap. */
  readonly pageCount?: number
  /** Sheets in the workbook, including any beyond the cap. */
  readonly sheetCount?: number
  /** True when text was left out: past the page cap, the sheet row cap or the text cap. */
  readonly truncated: boolean
  readonly image?: ImageFacts
}

/** A page (numbered from 1 by position) or a named sheet. */
export interface ExtractedPart {
  readonly name?: string
  readonly text: string
}

/** A successful extraction, before it is stored. */
export interface ExtractionResult {
  readonly layout: ExtractionLayout
  readonly parts: readonly ExtractedPart[]
  readonly facts: ExtractionFacts
}

/**
 * A file's extraction as stored. `pending` until its job has run; `failed` with a reason for a
 * malformed file, a bomb, or one over a limit; `unsupported` for kinds Cabinet cannot read
 * (the name is still searchable).
 */
export type ExtractionStatus = 'pending' | 'done' | 'failed' | 'unsupported'

/** Separates parts in the stored, searchable text. */
export const PART_SEPARATOR = '\n\n'
