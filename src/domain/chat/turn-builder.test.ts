import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import pino from 'pino'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import type { BlobStore } from '../../blob/blob-store.js'
import type { StoredFile } from '../../db/metadata-store.js'
import type { FileText } from '../extraction/extraction-service.js'
import { base64Length } from './base64.js'
import { TurnBuilder, type TurnAttachment } from './turn-builder.js'

const logger = pino({ level: 'silent' })
const agent = { acceptsDocuments: true, encodedTextBytes: (text: string) => base64Length(Buffer.byteLength(text)) }

function storedFile(id: string, name: string, kind: string, mimeType: string, sizeBytes: number): StoredFile {
  return { id, userId: 'alice', status: 'ready', originalName: name, kind, mimeType, blobKey: `blob-${id}`, sizeBytes, sha256: '', uploadedAt: new Date(0), pinned: false }
}

function done(fileId: string, text: string): FileText {
  return { fileId, kind: 'txt', status: 'done', error: undefined, pages: undefined, sheets: undefined, text, wordCount: 1, charCount: text.length, pageCount: undefined, sheetCount: undefined, truncated: false, image: undefined }
}

/** A blob store holding these bytes by key. */
function blobsOf(contents: Record<string, Buffer>): BlobStore {
  return { get: async (key: string) => Readable.from([contents[key]!]) } as unknown as BlobStore
}

async function noiseJpeg(side: number): Promise<Buffer> {
  return sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toBuffer()
}

describe('TurnBuilder', () => {
  it('keeps the whole request under the body limit: images that do not fit are downsized, then left out', async () => {
    // About 300 KB: noise does not compress.
    const big = await noiseJpeg(600)
    const limit = 8 * 1024 + base64Length(big.length) + 100_000
    const files = ['a', 'b', 'c'].map((id) => storedFile(id.repeat(32), `${id}.jpg`, 'jpg', 'image/jpeg', big.length))
    const builder = new TurnBuilder(blobsOf(Object.fromEntries(files.map((f) => [f.blobKey, big]))), { maxTextChars: 10_000, maxFileBytes: 1e6, maxImageBytes: 1e6, maxBodyBytes: limit }, logger)
    const attachments: TurnAttachment[] = files.map((file) => ({ file, text: undefined }))
    const turn = await builder.build({ message: 'look', history: [], attachments, missing: [], agent })
    expect(turn.reports.slice(0, 2).map((r) => [r.name, r.sentAs, r.reduced])).toEqual([
      ['a.jpg', 'image', false],
      ['b.jpg', 'image', true],
    ])
    expect(turn.reports[1]!.note).toMatch(/Downsized to \d+ × \d+ pixels/)
    // What is left after two images is too little for the third, or enough for a smaller copy only.
    expect([['none', false], ['image', true]]).toContainEqual([turn.reports[2]!.sentAs, turn.reports[2]!.reduced])
    const images = turn.parts.filter((p) => p.kind === 'image')
    const sent = images.reduce((sum, p) => sum + base64Length(p.kind === 'image' ? p.byteLength : 0), 0)
    expect(sent + 8 * 1024).toBeLessThanOrEqual(limit)
  })

  it('shares the text budget: a short file whole, the long ones cut evenly, each saying what was cut', async () => {
    const files = [storedFile('1'.repeat(32), 'short.txt', 'txt', 'text/plain', 10), storedFile('2'.repeat(32), 'long.txt', 'txt', 'text/plain', 9000), storedFile('3'.repeat(32), 'longer.txt', 'txt', 'text/plain', 20_000)]
    const texts = ['short text', 'x'.repeat(9000), 'y'.repeat(20_000)]
    const builder = new TurnBuilder(blobsOf({}), { maxTextChars: 6000, maxFileBytes: 1e6, maxImageBytes: 1e6, maxBodyBytes: 1e6 }, logger)
    const turn = await builder.build({ message: 'read', history: [], attachments: files.map((file, i) => ({ file, text: done(file.id, texts[i]!) })), missing: [], agent })
    const sent = turn.parts.flatMap((p) => (p.kind === 'text-file' ? [p.text] : []))
    expect(sent[0]).toBe('short text')
    expect(sent[1]!.startsWith('x'.repeat(2000))).toBe(true)
    expect(sent[1]).toMatch(/\[Cabinet: kept the first [\d,]+ of 9,000 characters, to fit the chat's text budget\]$/)
    expect(sent[2]).toMatch(/of 20,000 characters/)
    expect(Math.abs(sent[1]!.length - sent[2]!.length)).toBeLessThan(10)
    expect(sent.reduce((sum, text) => sum + text.length, 0)).toBeLessThanOrEqual(6000 + 2 * 120)
    expect(turn.reports.map((r) => r.reduced)).toEqual([false, true, true])
  })

  it('keeps the newest history that fits its share of the budget, oldest first', async () => {
    const builder = new TurnBuilder(blobsOf({}), { maxTextChars: 4000, maxFileBytes: 1e6, maxImageBytes: 1e6, maxBodyBytes: 1e6 }, logger)
    const history = Array.from({ length: 10 }, (_, i) => ({ role: (i % 2 ? 'assistant' : 'user') as 'user' | 'assistant', content: `${i}`.repeat(300) }))
    const turn = await builder.build({ message: 'next', history, attachments: [], missing: [], agent })
    expect(turn.history.map((m) => m.content[0])).toEqual(['7', '8', '9'])
    expect(turn.parts).toEqual([{ kind: 'text', text: 'next' }])
  })
})
