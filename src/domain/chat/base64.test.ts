import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { base64Length, base64Pieces } from './base64.js'

async function collect(pieces: AsyncIterable<string>): Promise<string> {
  let all = ''
  for await (const piece of pieces) all += piece
  return all
}

async function* chunks(bytes: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let at = 0
  for (const size of sizes) {
    yield bytes.subarray(at, at + size)
    at += size
  }
  if (at < bytes.length) yield bytes.subarray(at)
}

describe('base64Pieces', () => {
  it('encodes exactly like Buffer.toString("base64"), whatever the chunking', async () => {
    const bytes = randomBytes(1000)
    for (const sizes of [[1000], [1, 1, 1, 997], [2, 5, 7, 11, 13], [999], [3, 3, 3], []]) {
      expect(await collect(base64Pieces(chunks(bytes, sizes), { maxBytes: 1000, exactBytes: 1000 }))).toBe(bytes.toString('base64'))
    }
    expect(base64Length(1000)).toBe(bytes.toString('base64').length)
    expect(await collect(base64Pieces(chunks(Buffer.alloc(0), []), { maxBytes: 10 }))).toBe('')
  })

  it('stops at the hard cap, and when the source is shorter than announced', async () => {
    const bytes = randomBytes(100)
    await expect(collect(base64Pieces(chunks(bytes, [50, 50]), { maxBytes: 99 }))).rejects.toThrow('larger than the 99 bytes')
    await expect(collect(base64Pieces(chunks(bytes, [50, 50]), { maxBytes: 1000, exactBytes: 101 }))).rejects.toThrow('ended after 100 of its 101 bytes')
    await expect(collect(base64Pieces(chunks(bytes, [50, 50]), { maxBytes: 1000, exactBytes: 99 }))).rejects.toThrow('larger than the 99 bytes')
  })
})
