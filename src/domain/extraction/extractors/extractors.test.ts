import { describe, expect, it } from 'vitest'
import {
  chinesePdf,
  cidKeyedChinesePdf,
  latinPdf,
  legacyDoc,
  manyPagePdf,
  pdfBomb,
  photoJpeg,
  plainPng,
  reportDocx,
  salesXlsx,
  zipBombDocx,
} from '../../../../test/helpers/documents.js'
import { ExtractionFailure, type ExtractionLimits } from '../limits.js'
import { extractDoc } from './doc.js'
import { extractDocx } from './docx.js'
import { extractImageFacts } from './image-facts.js'
import { extractPdf } from './pdf.js'
import { extractText } from './text.js'
import { extractXlsx } from './xlsx.js'

const MIB = 1024 * 1024
const LIMITS: ExtractionLimits = { maxPages: 50, maxDecompressedBytes: 8 * MIB, maxTextChars: 100_000, maxSheetRows: 1000 }

describe('PDF extraction (pdf.js)', () => {
  it('reads the text of each page, line by line', async () => {
    const pdf = await latinPdf([['Quarterly report', 'Revenue grew 12 percent'], ['Page two']])
    expect(await extractPdf(pdf, LIMITS)).toEqual({
      layout: 'pages',
      parts: [{ text: 'Quarterly report\nRevenue grew 12 percent' }, { text: 'Page two' }],
      facts: { pageCount: 2, truncated: false },
    })
  })

  it('reads Chinese text set in an embedded CJK font', async () => {
    const pdf = await chinesePdf([['季度报告：收入增长百分之十二', '华东区销售创新高'], ['第二页']])
    const result = await extractPdf(pdf, LIMITS)
    expect(result.parts).toEqual([{ text: '季度报告：收入增长百分之十二\n华东区销售创新高' }, { text: '第二页' }])
  })

  it('reads Chinese text in a CID-keyed font that needs the predefined CMaps (regression: empty text without them)', async () => {
    const result = await extractPdf(cidKeyedChinesePdf('季度报告收入增长'), LIMITS)
    expect(result.parts).toEqual([{ text: '季度报告收入增长' }])
  })

  it('stops at the page cap of a 10,000-page PDF and says so', async () => {
    const started = Date.now()
    const result = await extractPdf(manyPagePdf(10_000), { ...LIMITS, maxPages: 5 })
    expect(result.facts).toEqual({ pageCount: 10_000, truncated: true })
    expect(result.parts).toEqual(Array.from({ length: 5 }, () => ({ text: 'Same page' })))
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('caps the text and marks it truncated', async () => {
    const result = await extractPdf(await latinPdf([['abcdefghij'], ['klmnopqrst']]), { ...LIMITS, maxTextChars: 15 })
    expect(result.parts).toEqual([{ text: 'abcdefghij' }, { text: 'klmno' }])
    expect(result.facts.truncated).toBe(true)
  })

  it('refuses a PDF whose streams inflate past the decompression cap (a PDF bomb)', async () => {
    await expect(extractPdf(await pdfBomb(16 * MIB), LIMITS)).rejects.toThrow(/decompresses to more than the limit of 8388608 bytes/)
  })

  it('fails a truncated PDF with a reason', async () => {
    const pdf = await latinPdf([['Quarterly report']])
    const error = await extractPdf(pdf.subarray(0, 200), LIMITS).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ExtractionFailure)
    expect((error as Error).message).toMatch(/^(Not a readable PDF|Could not read the PDF's text)/)
  })
})

describe('DOCX extraction (mammoth)', () => {
  it('turns headings, emphasis, lists and tables into Markdown', async () => {
    const result = await extractDocx(await reportDocx(), LIMITS)
    expect(result.layout).toBe('document')
    expect(result.parts[0]!.text.split('\n').map((line) => line.replace(/ +\|/g, ' |').replace(/\| -+/g, '| ---'))).toEqual([
      '# 季度报告 Q3',
      '',
      'Revenue grew **12%** this quarter.',
      '',
      '## Highlights',
      '',
      '- New customers in Shanghai',
      '- 华东区销售创新高',
      '1. Hire two engineers',
      '2. Open the Hangzhou office',
      '',
      '| Region | Sales |',
      '| --- | --- |',
      '| 华东 | 1200 |',
      '| North \\| West | 800 |',
    ])
  })

  it('refuses a zip bomb before inflating it', async () => {
    await expect(extractDocx(zipBombDocx(16 * MIB), LIMITS)).rejects.toThrow(/decompresses to more than the limit/)
  })

  it('refuses a ZIP whose entry inflates past the size its header declares', async () => {
    const bomb = zipBombDocx(2 * MIB)
    // Claim 100 bytes for the big entry in both headers (local at its offset 22, central at 24).
    const central = bomb.lastIndexOf(Buffer.from('word/document.xml')) - 46
    const local = bomb.indexOf(Buffer.from('word/document.xml')) - 30
    bomb.writeUInt32LE(100, local + 22)
    bomb.writeUInt32LE(100, central + 24)
    await expect(extractDocx(bomb, LIMITS)).rejects.toThrow(ExtractionFailure)
  })

  it('fails a file that is not a Word document with a reason', async () => {
    await expect(extractDocx(Buffer.from('PK\x03\x04 not really a zip'), LIMITS)).rejects.toThrow(/Not a readable ZIP container/)
  })
})

describe('XLSX extraction (exceljs)', () => {
  it('turns each sheet into a Markdown table: formulas by result, dates as dates', async () => {
    expect(await extractXlsx(await salesXlsx(), LIMITS)).toEqual({
      layout: 'sheets',
      parts: [
        { name: 'Sales', text: '| Region | Units | Price | Total |\n| --- | --- | --- | --- |\n| 华东 | 3 | 2.5 | 7.5 |\n| North | 10 | 1 | 10 |' },
        { name: '备注', text: '| Date | Note |\n| --- | --- |\n| 2025-03-31 | 季度结算 |' },
      ],
      facts: { sheetCount: 2, truncated: false },
    })
  })

  it('keeps at most maxSheetRows rows per sheet', async () => {
    const result = await extractXlsx(await salesXlsx(), { ...LIMITS, maxSheetRows: 2 })
    expect(result.parts[0]!.text).toBe('| Region | Units | Price | Total |\n| --- | --- | --- | --- |\n| 华东 | 3 | 2.5 | 7.5 |')
    expect(result.facts.truncated).toBe(true)
  })
})

describe('DOC extraction (word-extractor)', () => {
  it('reads the body of a Word 97-2003 document', async () => {
    expect(await extractDoc(legacyDoc(), LIMITS)).toEqual({
      layout: 'document',
      parts: [{ text: 'Annual report 2024\nRevenue grew twelve percent.\n年度报告：华东区销售创新高。' }],
      facts: { truncated: false },
    })
  })

  it('fails an OLE2 file that is not a Word document', async () => {
    const notWord = Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(1024)])
    await expect(extractDoc(notWord, LIMITS)).rejects.toThrow(/Not a readable Word 97-2003 document/)
  })
})

describe('text extraction', () => {
  it('decodes UTF-8, drops a BOM and a character cut at the end, and caps', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('第一行\r\nline two\n'), Buffer.from('报').subarray(0, 2)])
    expect(extractText(bytes, LIMITS).parts).toEqual([{ text: '第一行\nline two\n' }])
    expect(extractText(Buffer.from('abcdef'), { ...LIMITS, maxTextChars: 4 })).toEqual({ layout: 'document', parts: [{ text: 'abcd' }], facts: { truncated: true } })
  })
})

describe('image facts', () => {
  it('reads format, size, EXIF orientation, capture time and GPS presence of a JPEG', async () => {
    const photo = await photoJpeg({ width: 64, height: 32, orientation: 6, capturedAt: '2024:05:01 10:20:30', gps: true })
    expect((await extractImageFacts(photo)).facts.image).toEqual({
      format: 'jpg',
      width: 64,
      height: 32,
      orientation: 6,
      capturedAt: '2024-05-01T10:20:30',
      hasGps: true,
    })
  })

  it('reports no GPS and no capture time when the EXIF has none, and a PNG without EXIF', async () => {
    expect((await extractImageFacts(await photoJpeg({ width: 8, height: 8 }))).facts.image).toEqual({ format: 'jpg', width: 8, height: 8, orientation: 1, hasGps: false })
    expect((await extractImageFacts(await plainPng(20, 10))).facts.image).toEqual({ format: 'png', width: 20, height: 10, hasGps: false })
  })

  it('fails bytes that are no image', async () => {
    await expect(extractImageFacts(Buffer.from('not an image at all'))).rejects.toThrow(/Not a readable image/)
  })
})
