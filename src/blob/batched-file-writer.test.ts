import { openSync, closeSync, fstatSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { randomBytes, createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { pipe } from '../pipe.js'
import { BatchedFileWriter } from './batched-file-writer.js'

describe('BatchedFileWriter', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  function tempFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'cabinet-writer-'))
    dirs.push(dir)
    return join(dir, 'blob')
  }

  it('writes every byte in order, whatever the chunk sizes, and counts them', async () => {
    const chunks = [1, 7, 65_536, 3, 300_000, 524_288, 524_289, 1, 100_000].map((size) => randomBytes(size))
    const path = tempFile()
    const fd = openSync(path, 'wx')
    const writer = new BatchedFileWriter(fd, 512 * 1024)
    await pipe(Readable.from(chunks, { objectMode: false }), writer)
    closeSync(fd)
    const expected = Buffer.concat(chunks)
    expect(writer.bytesWritten).toBe(expected.length)
    const written = readFileSync(path)
    expect(createHash('sha256').update(written).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'))
  })

  it('writes many tiny chunks (more than one writev can take) without losing any', async () => {
    const chunks = Array.from({ length: 3000 }, (_, index) => Buffer.from([index % 256]))
    const path = tempFile()
    const fd = openSync(path, 'wx')
    const writer = new BatchedFileWriter(fd, 512 * 1024)
    await pipe(Readable.from(chunks, { objectMode: false }), writer)
    closeSync(fd)
    expect(readFileSync(path)).toEqual(Buffer.concat(chunks))
  })

  it('fails the stream when the descriptor cannot be written', async () => {
    const path = tempFile()
    closeSync(openSync(path, 'wx'))
    const readOnly = openSync(path, 'r')
    const writer = new BatchedFileWriter(readOnly, 16)
    await expect(pipe(Readable.from([randomBytes(64)], { objectMode: false }), writer)).rejects.toMatchObject({ code: 'EBADF' })
    closeSync(readOnly)
  })

  it('emits close only after a write in flight has returned, so the descriptor can be closed safely then', async () => {
    const path = tempFile()
    const fd = openSync(path, 'wx')
    const writer = new BatchedFileWriter(fd, 16)
    const errors: Error[] = []
    writer.on('error', (error) => errors.push(error))
    const closed = new Promise((resolve) => writer.once('close', resolve))
    const chunk = randomBytes(8 * 1024 * 1024)
    writer.write(chunk)
    // Let the batch's writev start (it is chained on a promise), then destroy while it is in the threadpool.
    await new Promise((resolve) => setImmediate(resolve))
    writer.destroy(new Error('client went away'))
    await closed
    expect(errors.map((error) => error.message)).toEqual(['client went away'])
    // The writev was in the threadpool when destroy() was called; it has finished by now.
    expect(fstatSync(fd).size).toBe(chunk.length)
    closeSync(fd)
  })

  it('takes an empty chunk at the end without failing', async () => {
    const path = tempFile()
    const fd = openSync(path, 'wx')
    // 'abc' fills a batch and is written at once, so the empty chunk would be a batch of its own.
    const writer = new BatchedFileWriter(fd, 3)
    const finished = new Promise((resolve, reject) => writer.once('finish', resolve).once('error', reject))
    writer.write(Buffer.from('abc'))
    writer.end(Buffer.alloc(0))
    await finished
    closeSync(fd)
    expect(readFileSync(path, 'utf8')).toBe('abc')
  })

  it('writes what a stalled sender left in a partly filled batch after a moment, without waiting for the rest', async () => {
    const path = tempFile()
    const fd = openSync(path, 'wx')
    const writer = new BatchedFileWriter(fd, 512 * 1024)
    writer.write(randomBytes(1000))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(fstatSync(fd).size).toBe(1000)
    expect(writer.bytesWritten).toBe(1000)
    const finished = new Promise((resolve, reject) => writer.once('finish', resolve).once('error', reject))
    writer.end(randomBytes(24))
    await finished
    expect(fstatSync(fd).size).toBe(1024)
    closeSync(fd)
  })
})
