import { PassThrough, Readable, Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { pipe } from './pipe.js'

function collector() {
  const chunks: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  return { sink, bytes: () => Buffer.concat(chunks) }
}

describe('pipe', () => {
  it('moves every byte through and resolves when the last stream finishes', async () => {
    const { sink, bytes } = collector()
    await pipe(Readable.from([Buffer.from('one '), Buffer.from('two')]), new PassThrough(), sink)
    expect(bytes().toString()).toBe('one two')
  })

  it('rejects with the first error and destroys the other streams', async () => {
    const source = new Readable({ read() {} })
    const middle = new PassThrough()
    const { sink } = collector()
    const piped = pipe(source, middle, sink)
    source.push('partial')
    source.destroy(new Error('client went away'))
    await expect(piped).rejects.toThrow('client went away')
    expect(middle.destroyed).toBe(true)
    expect(sink.destroyed).toBe(true)
  })

  it('fails at once for a stream destroyed before the call', async () => {
    const source = new Readable({ read() {} })
    source.destroy()
    const { sink } = collector()
    await expect(pipe(source, new PassThrough(), sink)).rejects.toThrow(/premature close/i)
    expect(sink.destroyed).toBe(true)
  })

  it('treats a source closed before its end as a failure', async () => {
    const source = new Readable({ read() {} })
    const { sink } = collector()
    const piped = pipe(source, sink)
    source.push('partial')
    source.destroy()
    await expect(piped).rejects.toThrow(/premature close/i)
  })

  it('a failing destination stops the source', async () => {
    const source = new Readable({ read() {} })
    const sink = new Writable({ write: (_chunk, _encoding, callback) => callback(new Error('disk full')) })
    const piped = pipe(source, sink)
    source.push('x')
    await expect(piped).rejects.toThrow('disk full')
    expect(source.destroyed).toBe(true)
  })
})
