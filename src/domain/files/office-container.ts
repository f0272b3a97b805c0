import { PassThrough, type Readable } from 'node:stream'
import yauzl from 'yauzl'

/** Reads bytes [start, end) of a stored blob. */
export type RangeReader = (start: number, end: number) => Promise<Readable>

/** Office files keep their part types here; its size is a few KiB in real documents. */
const CONTENT_TYPES_PART = '[Content_Types].xml'
const MAX_CONTENT_TYPES_BYTES = 1024 * 1024
const MAX_ENTRIES_SCANNED = 10_000

class BlobRandomAccessReader extends yauzl.RandomAccessReader {
  constructor(private readonly readRange: RangeReader) {
    super()
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const out = new PassThrough()
    this.readRange(start, end).then(
      (stream) => stream.on('error', (error) => out.destroy(error)).pipe(out),
      (error: unknown) => out.destroy(error as Error),
    )
    return out
  }
}

/**
 * The `[Content_Types].xml` of an OOXML package, read through the ZIP central
 * directory with ranged reads, so the whole file is never loaded. Undefined when
 * the file is not a readable ZIP or lacks the part.
 */
export async function readOfficeContentTypes(readRange: RangeReader, sizeBytes: number): Promise<string | undefined> {
  const zip = await new Promise<yauzl.ZipFile | undefined>((resolve) => {
    yauzl.fromRandomAccessReader(
      new BlobRandomAccessReader(readRange),
      sizeBytes,
      { lazyEntries: true, autoClose: true, validateEntrySizes: true, strictFileNames: false },
      (error, zipFile) => resolve(error ? undefined : zipFile),
    )
  })
  if (!zip) return undefined
  return new Promise<string | undefined>((resolve) => {
    let scanned = 0
    const finish = (value: string | undefined) => {
      zip.close()
      resolve(value)
    }
    zip.on('error', () => finish(undefined))
    zip.on('end', () => finish(undefined))
    zip.on('entry', (entry: yauzl.Entry) => {
      scanned += 1
      if (entry.fileName !== CONTENT_TYPES_PART) {
        if (scanned >= MAX_ENTRIES_SCANNED) return finish(undefined)
        return zip.readEntry()
      }
      if (entry.uncompressedSize > MAX_CONTENT_TYPES_BYTES) return finish(undefined)
      zip.openReadStream(entry, (error, stream) => {
        if (error || !stream) return finish(undefined)
        const chunks: Buffer[] = []
        stream.on('data', (chunk: Buffer) => chunks.push(chunk))
        stream.on('error', () => finish(undefined))
        stream.on('end', () => finish(Buffer.concat(chunks).toString('utf8')))
      })
    })
    zip.readEntry()
  })
}

/** Whether an OOXML package declares the main part of the expected document type. */
export function declaresContentType(contentTypesXml: string, contentType: string): boolean {
  return contentTypesXml.includes(`ContentType="${contentType}"`)
}
