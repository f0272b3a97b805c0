/**
 * Entry point of the extraction worker threads (piscina). Parsers are imported here, on first
 * use, so the server's main thread never loads pdf.js, mammoth, exceljs or word-extractor.
 */
import type { ExtractionResult } from './extraction-types.js'
import { ExtractionFailure, type ExtractionLimits } from './limits.js'

/** What the main thread sends: the whole file, transferred (not copied). */
export interface WorkerTask {
  readonly kind: 'pdf' | 'docx' | 'xlsx' | 'doc'
  readonly bytes: Uint8Array
  readonly limits: ExtractionLimits
}

/** Failures come back as values: an Error's class does not survive the trip between threads. */
export type WorkerAnswer = { readonly ok: true; readonly result: ExtractionResult } | { readonly ok: false; readonly reason: string }

export default async function extract(task: WorkerTask): Promise<WorkerAnswer> {
  const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength)
  try {
    return { ok: true, result: await extractDocument(task.kind, bytes, task.limits) }
  } catch (error) {
    if (error instanceof ExtractionFailure) return { ok: false, reason: error.message }
    // A parser's own exception means the file is not what it should be.
    return { ok: false, reason: `Could not read the file: ${error instanceof Error ? error.message : String(error)}` }
  }
}

async function extractDocument(kind: WorkerTask['kind'], bytes: Buffer, limits: ExtractionLimits): Promise<ExtractionResult> {
  switch (kind) {
    case 'pdf':
      return (await import('./extractors/pdf.js')).extractPdf(bytes, limits)
    case 'docx':
      return (await import('./extractors/docx.js')).extractDocx(bytes, limits)
    case 'xlsx':
      return (await import('./extractors/xlsx.js')).extractXlsx(bytes, limits)
    case 'doc':
      return (await import('./extractors/doc.js')).extractDoc(bytes, limits)
  }
}
