/**
 * Real documents for extraction tests, built with the libraries people make them with:
 * pdf-lib (with a CJK TrueType font from Debian's fonts-droid-fallback), docx, exceljs and sharp.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fontkit from '@pdf-lib/fontkit'
import { AlignmentType, Document, HeadingLevel, LevelFormat, Packer, Paragraph, Table, TableCell, TableRow, TextRun } from 'docx'
import ExcelJS from 'exceljs'
import { PDFDocument, StandardFonts } from 'pdf-lib'
import sharp from 'sharp'
import { zipBytes } from './fixtures.js'

/** A TrueType font with Chinese glyphs; test/global-setup.ts installs its Debian package when missing. */
export const CJK_FONT = '/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf'

/** A PDF with one page per entry, each line drawn with Helvetica (Latin text only). */
export async function latinPdf(pages: readonly string[][]): Promise<Buffer> {
  const doc = await PDFDocument.create()
  const font = await doc.embedFont(StandardFonts.Helvetica)
  for (const lines of pages) {
    const page = doc.addPage([595, 842])
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 780 - i * 24, size: 14, font }))
  }
  return Buffer.from(await doc.save())
}

/** A PDF whose text is Chinese, in an embedded subset of a CJK TrueType font (Identity-H, with ToUnicode). */
export async function chinesePdf(pages: readonly string[][]): Promise<Buffer> {
  if (!existsSync(CJK_FONT)) throw new Error(`${CJK_FONT} is missing: the test setup installs fonts-droid-fallback`)
  const doc = await PDFDocument.create()
  doc.registerFontkit(fontkit)
  const font = await doc.embedFont(readFileSync(CJK_FONT), { subset: true })
  for (const lines of pages) {
    const page = doc.addPage([595, 842])
    lines.forEach((line, i) => page.drawText(line, { x: 50, y: 780 - i * 28, size: 16, font }))
  }
  return Buffer.from(await doc.save())
}

/** A PDF assembled object by object; `objects[0]` is object 1 and must be the catalog. */
export function rawPdf(objects: readonly (string | Buffer)[]): Buffer {
  const chunks: Buffer[] = [Buffer.from('%PDF-1.4\n%\xE2\xE3\xCF\xD3\n', 'latin1')]
  let length = chunks[0]!.length
  const offsets: number[] = []
  objects.forEach((body, i) => {
    offsets.push(length)
    const chunk = Buffer.concat([Buffer.from(`${i + 1} 0 obj\n`), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'), Buffer.from('\nendobj\n')])
    chunks.push(chunk)
    length += chunk.length
  })
  const xref = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`
  chunks.push(Buffer.from(`${xref}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${length}\n%%EOF\n`, 'latin1'))
  return Buffer.concat(chunks)
}

/**
 * Chinese text in a CID-keyed font that is not embedded (STSong-Light, Adobe-GB1) with the
 * predefined CMap UniGB-UTF16-H and no ToUnicode map, as many Chinese PDF producers write it:
 * pdf.js can read it only with its CMap files configured.
 */
export function cidKeyedChinesePdf(text: string): Buffer {
  const hex = Buffer.from(text, 'utf16le').swap16().toString('hex').toUpperCase()
  const content = `BT /F1 24 Tf 72 700 Td <${hex}> Tj ET`
  return rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UTF16-H /DescendantFonts [6 0 R] >>',
    '<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> /FontDescriptor 7 0 R >>',
    '<< /Type /FontDescriptor /FontName /STSong-Light /Flags 4 /FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>',
  ])
}

/** A PDF of `pageCount` pages sharing one content stream, so it stays small however many pages it has. */
export function manyPagePdf(pageCount: number): Buffer {
  const content = 'BT /F1 12 Tf 72 700 Td (Same page) Tj ET'
  const kids = Array.from({ length: pageCount }, (_, i) => `${i + 5} 0 R`).join(' ')
  const pages = Array.from({ length: pageCount }, () => '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 3 0 R >>')
  return rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${kids}] /Count ${pageCount} >>`,
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    ...pages,
  ])
}

/** A one-page PDF whose content stream is `packedBytes` of deflated zeros that inflate to `inflatedBytes`. */
export async function pdfBomb(inflatedBytes: number): Promise<Buffer> {
  const { deflateSync } = await import('node:zlib')
  const packed = deflateSync(Buffer.alloc(inflatedBytes, 0x20), { level: 9 })
  return rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>',
    Buffer.concat([Buffer.from(`<< /Length ${packed.length} /Filter /FlateDecode >>\nstream\n`), packed, Buffer.from('\nendstream')]),
  ])
}

/** A report: a heading, a paragraph with bold text, a bulleted and a numbered list, and a table. */
export async function reportDocx(): Promise<Buffer> {
  const cell = (text: string) => new TableCell({ children: [new Paragraph(text)] })
  const doc = new Document({
    numbering: { config: [{ reference: 'steps', levels: [{ level: 0, format: LevelFormat.DECIMAL, text: '%1.', alignment: AlignmentType.START }] }] },
    sections: [
      {
        children: [
          new Paragraph({ text: '季度报告 Q3', heading: HeadingLevel.HEADING_1 }),
          new Paragraph({ children: [new TextRun('Revenue grew '), new TextRun({ text: '12%', bold: true }), new TextRun(' this quarter.')] }),
          new Paragraph({ text: 'Highlights', heading: HeadingLevel.HEADING_2 }),
          new Paragraph({ text: 'New customers in Shanghai', bullet: { level: 0 } }),
          new Paragraph({ text: '华东区销售创新高', bullet: { level: 0 } }),
          new Paragraph({ text: 'Hire two engineers', numbering: { reference: 'steps', level: 0 } }),
          new Paragraph({ text: 'Open the Hangzhou office', numbering: { reference: 'steps', level: 0 } }),
          new Table({ rows: [new TableRow({ children: [cell('Region'), cell('Sales')] }), new TableRow({ children: [cell('华东'), cell('1200')] }), new TableRow({ children: [cell('North | West'), cell('800')] })] }),
        ],
      },
    ],
  })
  return Packer.toBuffer(doc)
}

/** A workbook with two sheets: numbers, a formula, a date and Chinese text. */
export async function salesXlsx(): Promise<Buffer> {
  const workbook = new ExcelJS.Workbook()
  const sales = workbook.addWorksheet('Sales')
  sales.addRow(['Region', 'Units', 'Price', 'Total'])
  sales.addRow(['华东', 3, 2.5, { formula: 'B2*C2', result: 7.5 }])
  sales.addRow(['North', 10, 1, { formula: 'B3*C3', result: 10 }])
  const notes = workbook.addWorksheet('备注')
  notes.addRow(['Date', 'Note'])
  notes.addRow([new Date(Date.UTC(2025, 2, 31)), '季度结算'])
  return Buffer.from(await workbook.xlsx.writeBuffer())
}

/** A `width`×`height` JPEG, with EXIF orientation, capture time and (optionally) a GPS position. */
export async function photoJpeg(options: { width: number; height: number; orientation?: number; capturedAt?: string; gps?: boolean }): Promise<Buffer> {
  const { width, height } = options
  // A gradient left to right, so a rotation shows in the pixels.
  const pixels = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.fill(Math.round((x / width) * 255), (y * width + x) * 3, (y * width + x) * 3 + 3)
  let image = sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 })
  const exif: Record<string, Record<string, string>> = { IFD0: { Make: 'CabinetCam', Model: 'Test 1' } }
  if (options.capturedAt) exif.IFD2 = { DateTimeOriginal: options.capturedAt }
  if (options.gps) exif.IFD3 = { GPSLatitudeRef: 'N', GPSLatitude: '31/1 14/1 0/1', GPSLongitudeRef: 'E', GPSLongitude: '121/1 28/1 0/1' }
  image = image.withExif(exif)
  if (options.orientation) image = image.withMetadata({ orientation: options.orientation })
  return image.toBuffer()
}

/** A `width`×`height` PNG of one colour. */
export async function plainPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 30 } } }).png().toBuffer()
}

/** A DOCX-looking ZIP whose document.xml inflates to `inflatedBytes`: a zip bomb. */
export function zipBombDocx(inflatedBytes: number): Buffer {
  const OOXML = 'application/vnd.openxmlformats-officedocument'
  return zipBytes(
    {
      '[Content_Types].xml': `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="${OOXML}.wordprocessingml.document.main+xml"/></Types>`,
      'word/document.xml': Buffer.alloc(inflatedBytes, 0x20),
    },
    { deflate: true },
  )
}

/** A legacy Word 97-2003 document saved by LibreOffice; see test/fixtures/README.md. */
export function legacyDoc(): Buffer {
  return readFileSync(join(import.meta.dirname, '..', 'fixtures', 'report.doc'))
}
