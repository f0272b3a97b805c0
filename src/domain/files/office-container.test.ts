import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { docxBytes, pdfBytes, xlsxBytes, zipBytes } from '../../../test/helpers/fixtures.js'
import { FILE_TYPES } from './file-types.js'
import { declaresContentType, readOfficeContentTypes, type RangeReader } from './office-container.js'

const WORD = (FILE_TYPES.docx.signature as { zip: { contentType: string } }).zip.contentType
const SHEET = (FILE_TYPES.xlsx.signature as { zip: { contentType: string } }).zip.contentType

/** Reads [start, end) of an in-memory file, recording how many bytes were asked for. */
function readerOver(bytes: Buffer): { read: RangeReader; bytesRead: () => number } {
  let total = 0
  const read: RangeReader = async (start, end) => {
    total += end - start
    return Readable.from([bytes.subarray(start, end)])
  }
  return { read, bytesRead: () => total }
}

const contentTypesOf = (bytes: Buffer) => readOfficeContentTypes(readerOver(bytes).read, bytes.length)

describe('readOfficeContentTypes', () => {
  it("finds a .docx file's [Content_Types].xml, which declares a Word document and not a sheet", async () => {
    const xml = await contentTypesOf(docxBytes())
    expect(xml).toContain('<Types')
    expect(declaresContentType(xml!, WORD)).toBe(true)
    expect(declaresContentType(xml!, SHEET)).toBe(false)
  })

  it("finds a .xlsx file's [Content_Types].xml, which declares a sheet and not a Word document", async () => {
    const xml = await contentTypesOf(xlsxBytes())
    expect(declaresContentType(xml!, SHEET)).toBe(true)
    expect(declaresContentType(xml!, WORD)).toBe(false)
  })

  it('reads a deflated [Content_Types].xml, as real Office files store it', async () => {
    const xml = `<Types><Override PartName="/word/document.xml" ContentType="${WORD}"/>${'<Default Extension="png" ContentType="image/png"/>'.repeat(50)}</Types>`
    expect(await contentTypesOf(zipBytes({ '[Content_Types].xml': xml }, { deflate: true }))).toBe(xml)
  })

  it('finds the part after other entries, reading a small part of a large file', async () => {
    const bytes = zipBytes({
      'word/media/big.bin': Buffer.alloc(2 * 1024 * 1024, 7),
      'word/document.xml': '<w:document/>',
      '[Content_Types].xml': `<Types><Override PartName="/word/document.xml" ContentType="${WORD}"/></Types>`,
    })
    const reader = readerOver(bytes)
    const xml = await readOfficeContentTypes(reader.read, bytes.length)
    expect(declaresContentType(xml!, WORD)).toBe(true)
    expect(reader.bytesRead()).toBeLessThan(bytes.length / 4)
  })

  it('is undefined for a file that is not a ZIP', async () => {
    expect(await contentTypesOf(pdfBytes())).toBeUndefined()
    expect(await contentTypesOf(Buffer.alloc(4096, 0x41))).toBeUndefined()
  })

  it('is undefined for a ZIP without [Content_Types].xml', async () => {
    expect(await contentTypesOf(zipBytes({ 'readme.txt': 'hello', 'data/x.xml': '<x/>' }))).toBeUndefined()
  })

  it('is undefined for an empty ZIP', async () => {
    expect(await contentTypesOf(zipBytes({}))).toBeUndefined()
  })

  it.each([
    ['its last byte', (b: Buffer) => b.subarray(0, b.length - 1)],
    ['its end record', (b: Buffer) => b.subarray(0, b.length - 22)],
    ['its second half', (b: Buffer) => b.subarray(0, Math.floor(b.length / 2))],
    ['everything after its first 10 bytes', (b: Buffer) => b.subarray(0, 10)],
  ])('is undefined for a .docx truncated by %s', async (_label, truncate) => {
    expect(await contentTypesOf(truncate(docxBytes()))).toBeUndefined()
  })

  it('is undefined, not a hang or a throw, when reading the blob fails', async () => {
    const bytes = docxBytes()
    const failing: RangeReader = async () => {
      throw new Error('disk went away')
    }
    expect(await readOfficeContentTypes(failing, bytes.length)).toBeUndefined()
  })

  it('is undefined when a read stream errors midway', async () => {
    const bytes = docxBytes()
    const erroring: RangeReader = async (start, end) =>
      new Readable({
        read() {
          this.push(bytes.subarray(start, start + Math.floor((end - start) / 2)))
          this.destroy(new Error('connection reset'))
        },
      })
    expect(await readOfficeContentTypes(erroring, bytes.length)).toBeUndefined()
  })
})

describe('declaresContentType', () => {
  it('matches the ContentType attribute exactly, not a longer type that starts the same', () => {
    const xml = `<Types><Override PartName="/word/document.xml" ContentType="${WORD}.extra"/></Types>`
    expect(declaresContentType(xml, WORD)).toBe(false)
  })
})
