import yauzl from 'yauzl'
import { ExtractionFailure } from './limits.js'

const MAX_ENTRIES = 10_000

/**
 * Refuses a ZIP (DOCX, XLSX) that would decompress to more than `maxBytes`, before any parser
 * inflates it: the declared sizes are summed first, then every entry is inflated and counted
 * (yauzl also rejects an entry that inflates past its declared size), so a lying header does not help.
 */
export async function assertZipWithinBudget(bytes: Buffer, maxBytes: number): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true, validateEntrySizes: true }, (error, opened) => (error ? reject(error) : resolve(opened))),
  ).catch((error: unknown) => {
    throw new ExtractionFailure(`Not a readable ZIP container: ${(error as Error).message}`, { cause: error })
  })
  if (zip.entryCount > MAX_ENTRIES) throw new ExtractionFailure(`The archive has ${zip.entryCount} entries, more than ${MAX_ENTRIES}`)
  let total = 0
  await new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      zip.close()
      reject(error instanceof ExtractionFailure ? error : new ExtractionFailure(`Malformed ZIP container: ${(error as Error).message}`, { cause: error }))
    }
    zip.on('error', fail)
    zip.on('end', () => resolve())
    zip.on('entry', (entry: yauzl.Entry) => {
      total += entry.uncompressedSize
      if (total > maxBytes) return fail(decompressedTooLarge(maxBytes))
      if (entry.fileName.endsWith('/')) return zip.readEntry()
      zip.openReadStream(entry, (error, stream) => {
        if (error) return fail(error)
        stream.on('data', () => {})
        stream.on('error', fail)
        stream.on('end', () => zip.readEntry())
      })
    })
    zip.readEntry()
  })
}

export function decompressedTooLarge(maxBytes: number): ExtractionFailure {
  return new ExtractionFailure(`The file decompresses to more than the limit of ${maxBytes} bytes`)
}
