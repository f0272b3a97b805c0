import { crc32, deflateRawSync } from 'node:zlib'

/** The smallest valid PNG header plus `extra` bytes: enough for Cabinet's content check. */
export function pngBytes(extraBytes = 64): Buffer {
  const body = Buffer.alloc(extraBytes)
  for (let i = 0; i < extraBytes; i++) body[i] = (i * 31 + 7) & 0xff
  return Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), body])
}

export function jpegBytes(extraBytes = 64): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(extraBytes, 0x11), Buffer.from([0xff, 0xd9])])
}

export function pdfBytes(text = 'hello'): Buffer {
  return Buffer.from(`%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ${text}\ntrailer << /Root 1 0 R >>\n%%EOF\n`)
}

/** An OLE2 compound-file header, as legacy .doc/.xls files start. */
export function ole2Bytes(extraBytes = 512): Buffer {
  return Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(extraBytes, 0)])
}

/** A Windows executable's first bytes, to rename as an image. */
export function exeBytes(): Buffer {
  return Buffer.concat([Buffer.from('MZ'), Buffer.alloc(126, 0x90), Buffer.from('This program cannot be run in DOS mode.')])
}

/** A ZIP archive holding the given entries, stored as is or deflated (method 8, as Word and Excel write them). */
export function zipBytes(entries: Record<string, string | Buffer>, options: { deflate?: boolean } = {}): Buffer {
  const method = options.deflate ? 8 : 0
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const [name, content] of Object.entries(entries)) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content)
    const packed = options.deflate ? deflateRawSync(data) : data
    const nameBytes = Buffer.from(name)
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(method, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(packed.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(nameBytes.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(method, 10)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(packed.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(nameBytes.length, 28)
    central.writeUInt32LE(offset, 42)
    locals.push(local, nameBytes, packed)
    centrals.push(central, nameBytes)
    offset += local.length + nameBytes.length + packed.length
  }
  const centralDir = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(Object.keys(entries).length, 8)
  end.writeUInt16LE(Object.keys(entries).length, 10)
  end.writeUInt32LE(centralDir.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, centralDir, end])
}

const OOXML = 'application/vnd.openxmlformats-officedocument'

function contentTypes(mainPart: string, mainType: string): string {
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="${mainPart}" ContentType="${mainType}"/></Types>`
}

export function docxBytes(): Buffer {
  return zipBytes({
    '[Content_Types].xml': contentTypes('/word/document.xml', `${OOXML}.wordprocessingml.document.main+xml`),
    'word/document.xml': '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body/></w:document>',
  })
}

export function xlsxBytes(): Buffer {
  return zipBytes({
    '[Content_Types].xml': contentTypes('/xl/workbook.xml', `${OOXML}.spreadsheetml.sheet.main+xml`),
    'xl/workbook.xml': '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
  })
}
