import { createHash, randomBytes } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { docxBytes, exeBytes, jpegBytes, ole2Bytes, pdfBytes, pngBytes, xlsxBytes, zipBytes } from '../../../test/helpers/fixtures.js'
import { AppError } from '../../errors.js'
import { FILE_TYPES, type FileKind } from './file-types.js'
import { UploadInspector } from './upload-inspector.js'

const MIB = 1024 * 1024

interface Run {
  readonly error: unknown
  readonly passed: Buffer
  readonly inspector: UploadInspector
}

/** Streams `chunks` through an inspector into a sink, as an upload flows into the blob store. */
async function inspect(kind: FileKind, chunks: Iterable<Buffer> | AsyncIterable<Buffer>, maxBytes = 10 * MIB): Promise<Run> {
  const inspector = new UploadInspector(FILE_TYPES[kind], maxBytes)
  const passed: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      passed.push(chunk)
      callback()
    },
  })
  let error: unknown
  try {
    await pipeline(Readable.from(chunks, { objectMode: false }), inspector, sink)
  } catch (caught) {
    error = caught
  }
  return { error, passed: Buffer.concat(passed), inspector }
}

function splitEvery(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = []
  for (let offset = 0; offset < bytes.length; offset += size) chunks.push(bytes.subarray(offset, offset + size))
  return chunks
}

function codeOf(error: unknown): string | undefined {
  return error instanceof AppError ? error.code : undefined
}

const gifBytes = () => Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(64, 1)])
const webpBytes = () => Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x40, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(64, 2)])
const pptxHead = () => zipBytes({ '[Content_Types].xml': '<Types/>', 'ppt/presentation.xml': '<p/>' })

/** Content that each kind must accept, and content it must refuse. */
const CASES: ReadonlyArray<[FileKind, () => Buffer, () => Buffer]> = [
  ['jpg', () => jpegBytes(), () => pngBytes()],
  ['png', () => pngBytes(), () => exeBytes()],
  ['gif', gifBytes, () => jpegBytes()],
  ['webp', webpBytes, () => Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WAVEfmt '), Buffer.alloc(64)])],
  ['pdf', () => pdfBytes(), () => Buffer.from('just some text pretending to be a PDF')],
  ['doc', () => ole2Bytes(), () => docxBytes()],
  ['xls', () => ole2Bytes(), () => pdfBytes()],
  ['docx', () => docxBytes(), () => ole2Bytes()],
  ['xlsx', () => xlsxBytes(), () => exeBytes()],
  ['pptx', pptxHead, () => pngBytes()],
  ['txt', () => Buffer.from('plain text\nline two\n'), () => pngBytes()],
  ['md', () => Buffer.from('# Title\n\n* 项目\n'), () => jpegBytes()],
  ['csv', () => Buffer.from('name,amount\n张三,12.5\n'), () => ole2Bytes()],
  ['json', () => Buffer.from('{"ok":true,"名":"值"}'), () => Buffer.from([0x7b, 0x22, 0x00, 0x22, 0x7d])],
]

describe('UploadInspector', () => {
  describe.each(CASES)('%s', (kind, good, bad) => {
    it('accepts matching content and passes it through unchanged', async () => {
      const bytes = good()
      const run = await inspect(kind, splitEvery(bytes, 100))
      expect(run.error).toBeUndefined()
      expect(run.passed.equals(bytes)).toBe(true)
    })

    it('refuses other content with FILE_TYPE_MISMATCH (415)', async () => {
      const run = await inspect(kind, [bad()])
      expect(codeOf(run.error)).toBe('FILE_TYPE_MISMATCH')
      expect((run.error as AppError).status).toBe(415)
    })
  })

  it('names what the content really is in the mismatch message', async () => {
    const run = await inspect('png', [exeBytes()])
    expect((run.error as AppError).message).toMatch(/named \.png but the content is a Windows executable/)
  })

  it('accepts a PDF whose header is not at byte 0 but within the first KiB', async () => {
    const bytes = Buffer.concat([Buffer.alloc(500, 0x20), pdfBytes()])
    expect((await inspect('pdf', [bytes])).error).toBeUndefined()
  })

  it('raises a mismatch early, long before the whole stream is read', async () => {
    let chunksRead = 0
    async function* hugeExecutable() {
      yield exeBytes()
      for (let i = 0; i < 1000; i++) {
        chunksRead += 1
        yield Buffer.alloc(64 * 1024, 0x90)
      }
    }
    const run = await inspect('jpg', hugeExecutable(), 1024 * MIB)
    expect(codeOf(run.error)).toBe('FILE_TYPE_MISMATCH')
    expect(chunksRead).toBeLessThan(5)
  })

  describe('size limit', () => {
    it('allows exactly maxBytes', async () => {
      const run = await inspect('txt', [Buffer.alloc(600, 0x61), Buffer.alloc(400, 0x62)], 1000)
      expect(run.error).toBeUndefined()
      expect(run.inspector.result().sizeBytes).toBe(1000)
    })

    it('refuses maxBytes + 1 with FILE_TOO_LARGE (413)', async () => {
      const run = await inspect('txt', [Buffer.alloc(600, 0x61), Buffer.alloc(401, 0x62)], 1000)
      expect(codeOf(run.error)).toBe('FILE_TOO_LARGE')
      expect((run.error as AppError).status).toBe(413)
    })

    it('stops reading an oversized stream as soon as it passes the limit', async () => {
      let chunksRead = 0
      async function* endless() {
        for (let i = 0; i < 10_000; i++) {
          chunksRead += 1
          yield Buffer.alloc(64 * 1024, 0x61)
        }
      }
      const run = await inspect('txt', endless(), MIB)
      expect(codeOf(run.error)).toBe('FILE_TOO_LARGE')
      expect(chunksRead).toBeLessThan(16 + 5)
    })
  })

  it.each<FileKind>(['txt', 'png'])('refuses an empty %s upload with EMPTY_FILE (400)', async (kind) => {
    const run = await inspect(kind, [])
    expect(codeOf(run.error)).toBe('EMPTY_FILE')
    expect((run.error as AppError).status).toBe(400)
  })

  it('computes size and SHA-256 of the whole body across many small chunks', async () => {
    const bytes = Buffer.concat([pngBytes(0), randomBytes(200_000)])
    const run = await inspect('png', splitEvery(bytes, 7))
    expect(run.error).toBeUndefined()
    expect(run.passed.equals(bytes)).toBe(true)
    expect(run.inspector.result()).toEqual({
      sizeBytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    })
  })

  describe('text kinds', () => {
    it.each([
      ['an invalid UTF-8 byte', Buffer.from([0x61, 0x62, 0xff, 0x63])],
      ['a lone continuation byte', Buffer.from([0x61, 0x80, 0x62])],
      ['an overlong encoding', Buffer.from([0x61, 0xc0, 0xaf])],
      ['Latin-1 text', Buffer.from('caf\u00e9 cr\u00e8me', 'latin1')],
      ['a character cut off at the end', Buffer.concat([Buffer.from('报告'), Buffer.from('告').subarray(0, 2)])],
    ])('refuses %s', async (_label, bytes) => {
      const run = await inspect('txt', [bytes])
      expect(codeOf(run.error)).toBe('FILE_TYPE_MISMATCH')
    })

    it('refuses a NUL byte in the first KiB', async () => {
      expect(codeOf((await inspect('csv', [Buffer.from('a,b\n1,\u0000\n')])).error)).toBe('FILE_TYPE_MISMATCH')
    })

    it('refuses a NUL byte or invalid UTF-8 far past the first KiB', async () => {
      const text = Buffer.alloc(100_000, 0x61)
      expect(codeOf((await inspect('md', [text, Buffer.from([0x00])])).error)).toBe('FILE_TYPE_MISMATCH')
      expect(codeOf((await inspect('md', [text, Buffer.from([0xfe])])).error)).toBe('FILE_TYPE_MISMATCH')
    })

    it('accepts a multi-byte character split across chunks', async () => {
      const bytes = Buffer.from('报告：第一季度 😀 done\n')
      // Cut inside 报 (3 bytes) and inside 😀 (4 bytes).
      const emoji = bytes.indexOf(Buffer.from('😀'))
      const chunks = [bytes.subarray(0, 1), bytes.subarray(1, emoji + 2), bytes.subarray(emoji + 2)]
      const run = await inspect('txt', chunks)
      expect(run.error).toBeUndefined()
      expect(run.passed.toString('utf8')).toBe('报告：第一季度 😀 done\n')
    })

    it('accepts every byte split of a multi-byte text', async () => {
      const bytes = Buffer.from('a报b😀c')
      for (let cut = 1; cut < bytes.length; cut++) {
        const run = await inspect('json', [bytes.subarray(0, cut), bytes.subarray(cut)])
        expect({ cut, error: run.error }).toEqual({ cut, error: undefined })
      }
    })
  })
})
