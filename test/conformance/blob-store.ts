import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlobNotFoundError, type BlobInfo, type BlobStore } from '../../src/blob/blob-store.js'

/** What a conformance run needs from an adapter: a fresh, empty store and a way to throw it away. */
export interface BlobStoreFixture {
  readonly store: BlobStore
  cleanup(): Promise<void>
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array))
  return Buffer.concat(chunks)
}

/** A body delivered in `chunkBytes` pieces, as a network upload arrives. */
export function bodyOf(bytes: Buffer, chunkBytes = 16 * 1024): Readable {
  const chunks: Buffer[] = []
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) chunks.push(bytes.subarray(offset, offset + chunkBytes))
  return Readable.from(chunks, { objectMode: false })
}

/** A body that sends `bytesBeforeFailure` bytes, then errors (or, without `error`, is destroyed like an aborted request). */
export function failingBody(bytesBeforeFailure: number, error?: Error): Readable {
  let sent = 0
  return new Readable({
    read() {
      if (sent >= bytesBeforeFailure) {
        this.destroy(error)
        return
      }
      const chunk = Buffer.alloc(Math.min(64 * 1024, bytesBeforeFailure - sent), 0x5a)
      sent += chunk.length
      // Let the store start writing before the failure arrives.
      setImmediate(() => this.push(chunk))
    },
  })
}

async function listAll(store: BlobStore, prefix: string): Promise<BlobInfo[]> {
  const found: BlobInfo[] = []
  for await (const info of store.list(prefix)) found.push(info)
  return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/** Passes when `action` throws synchronously or returns a promise that rejects; returns the error. */
async function rejectionOf(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action()
  } catch (error) {
    return error
  }
  throw new Error('expected the call to be rejected')
}

const UNSAFE_KEYS: ReadonlyArray<[string, string]> = [
  ['parent traversal', '../x'],
  ['absolute path', '/abs'],
  ['traversal in the middle', 'a/../../b'],
  ['NUL byte', 'a\u0000b'],
  ['empty key', ''],
  ['uppercase and odd characters', 'Reports/Q1 Summary!.PDF'],
  ['backslash traversal', '..\\x'],
  ['dot segment', 'a/./b'],
  ['empty segment', 'a//b'],
  ['trailing slash', 'a/b/'],
  ['longer than 512 characters', 'k'.repeat(513)],
]

/**
 * The BlobStore contract (src/blob/blob-store.ts) that every adapter must pass against
 * its real backend. Each test gets a fresh, empty store from `factory`.
 */
export function describeBlobStore(name: string, factory: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let fixture: BlobStoreFixture
    let store: BlobStore

    beforeEach(async () => {
      fixture = await factory()
      store = fixture.store
    })

    afterEach(async () => {
      await fixture.store.close()
      await fixture.cleanup()
    })

    describe('put then get', () => {
      it('returns the same bytes and the stored size for a small blob', async () => {
        const bytes = Buffer.from('hello, cabinet\n')
        const info = await store.put('small/hello.txt', bodyOf(bytes), { contentType: 'text/plain' })
        expect(info.key).toBe('small/hello.txt')
        expect(info.sizeBytes).toBe(bytes.length)
        expect(info.modifiedAt).toBeInstanceOf(Date)
        expect(await readAll(await store.get('small/hello.txt'))).toEqual(bytes)
      })

      it('stores a 1-byte blob', async () => {
        const info = await store.put('tiny/one', bodyOf(Buffer.from([0x00])))
        expect(info.sizeBytes).toBe(1)
        expect(await readAll(await store.get('tiny/one'))).toEqual(Buffer.from([0x00]))
      })

      it('streams a multi-MiB body in and out unchanged', async () => {
        const totalBytes = 6 * 1024 * 1024 + 123
        const sent = createHash('sha256')
        let produced = 0
        async function* generate() {
          while (produced < totalBytes) {
            const chunk = randomBytes(Math.min(64 * 1024, totalBytes - produced))
            produced += chunk.length
            sent.update(chunk)
            yield chunk
          }
        }
        const info = await store.put('big/blob', Readable.from(generate()))
        expect(info.sizeBytes).toBe(totalBytes)

        const received = createHash('sha256')
        let receivedBytes = 0
        for await (const chunk of await store.get('big/blob')) {
          received.update(chunk as Buffer)
          receivedBytes += (chunk as Buffer).length
        }
        expect(receivedBytes).toBe(totalBytes)
        expect(received.digest('hex')).toBe(sent.digest('hex'))
      })
    })

    describe('ranged get (inclusive start and end)', () => {
      const bytes = Buffer.from('0123456789abcdefghij')

      beforeEach(async () => {
        await store.put('range/blob', bodyOf(bytes, 7))
      })

      it.each([
        ['the first byte', 0, 0, '0'],
        ['the last byte', 19, 19, 'j'],
        ['a middle slice', 5, 12, '56789abc'],
        ['the whole blob', 0, 19, '0123456789abcdefghij'],
        ['a tail', 15, 19, 'fghij'],
      ])('returns %s', async (_label, start, end, expected) => {
        expect((await readAll(await store.get('range/blob', { range: { start, end } }))).toString()).toBe(expected)
      })

      it('rejects a ranged get of a missing key with BlobNotFoundError', async () => {
        await expect(store.get('range/missing', { range: { start: 0, end: 0 } })).rejects.toBeInstanceOf(BlobNotFoundError)
      })
    })

    describe('readBuffer (inclusive start and end)', () => {
      const bytes = Buffer.from('0123456789abcdefghij')

      it.each([
        ['the whole blob', 0, 19, '0123456789abcdefghij'],
        ['a middle slice', 5, 12, '56789abc'],
        ['the last byte', 19, 19, 'j'],
      ])('returns %s, the same bytes as get', async (_label, start, end, expected) => {
        await store.put('buffer/blob', bodyOf(bytes, 7))
        expect((await store.readBuffer('buffer/blob', { start, end })).toString()).toBe(expected)
        expect((await readAll(await store.get('buffer/blob', { range: { start, end } }))).toString()).toBe(expected)
      })

      it('rejects a missing key and a folder with BlobNotFoundError, and a range past the end with an error', async () => {
        await store.put('buffer/dir/leaf', bodyOf(bytes))
        await expect(store.readBuffer('buffer/missing', { start: 0, end: 0 })).rejects.toBeInstanceOf(BlobNotFoundError)
        await expect(store.readBuffer('buffer/dir', { start: 0, end: 0 })).rejects.toBeInstanceOf(BlobNotFoundError)
        await expect(store.readBuffer('buffer/dir/leaf', { start: 10, end: 25 })).rejects.toThrow(/ends before/)
      })
    })

    describe('missing keys', () => {
      it('get rejects with BlobNotFoundError carrying the key', async () => {
        const error = await rejectionOf(() => store.get('missing/key'))
        expect(error).toBeInstanceOf(BlobNotFoundError)
        expect((error as BlobNotFoundError).key).toBe('missing/key')
      })

      it('head returns undefined', async () => {
        expect(await store.head('missing/key')).toBeUndefined()
      })

      describe('a key that is only a prefix of stored keys (a "folder") is not a blob', () => {
        beforeEach(async () => {
          await store.put('parent/child/leaf', bodyOf(Buffer.from('x')))
        })

        it('head returns undefined', async () => {
          expect(await store.head('parent')).toBeUndefined()
          expect(await store.head('parent/child')).toBeUndefined()
        })

        it('get rejects with BlobNotFoundError', async () => {
          const outcome = await store.get('parent/child').then(
            (stream) => {
              stream.destroy()
              return 'resolved with a stream'
            },
            (error: unknown) => error,
          )
          expect(outcome).toBeInstanceOf(BlobNotFoundError)
        })

        it('delete succeeds and leaves the keys below it', async () => {
          await expect(store.delete('parent/child')).resolves.toBeUndefined()
          expect((await store.head('parent/child/leaf'))?.sizeBytes).toBe(1)
        })
      })
    })

    describe('head', () => {
      it('returns the key and size of a stored blob', async () => {
        await store.put('head/blob', bodyOf(Buffer.alloc(4321, 1)))
        const info = await store.head('head/blob')
        expect(info).toMatchObject({ key: 'head/blob', sizeBytes: 4321 })
        expect(info?.modifiedAt).toBeInstanceOf(Date)
      })
    })

    describe('delete', () => {
      it('removes the blob: get rejects, head is undefined, list omits it', async () => {
        await store.put('del/blob', bodyOf(Buffer.from('bye')))
        await store.delete('del/blob')
        await expect(store.get('del/blob')).rejects.toBeInstanceOf(BlobNotFoundError)
        expect(await store.head('del/blob')).toBeUndefined()
        expect(await listAll(store, 'del/')).toEqual([])
      })

      it('is idempotent: deleting twice, or a key never stored, succeeds', async () => {
        await store.put('del/twice', bodyOf(Buffer.from('x')))
        await store.delete('del/twice')
        await expect(store.delete('del/twice')).resolves.toBeUndefined()
        await expect(store.delete('del/never-stored')).resolves.toBeUndefined()
      })

      it('leaves other blobs alone', async () => {
        await store.put('del/a', bodyOf(Buffer.from('a')))
        await store.put('del/b', bodyOf(Buffer.from('b')))
        await store.delete('del/a')
        expect((await readAll(await store.get('del/b'))).toString()).toBe('b')
      })
    })

    describe('overwrite', () => {
      it('a second put of the same key replaces the content and size', async () => {
        await store.put('over/blob', bodyOf(Buffer.from('the first, longer version')))
        const info = await store.put('over/blob', bodyOf(Buffer.from('second')))
        expect(info.sizeBytes).toBe(6)
        expect((await readAll(await store.get('over/blob'))).toString()).toBe('second')
        expect((await store.head('over/blob'))?.sizeBytes).toBe(6)
        expect((await listAll(store, 'over/')).map((b) => b.key)).toEqual(['over/blob'])
      })

      it('concurrent puts of the same key both succeed and leave one whole version', async () => {
        const a = Buffer.alloc(300_000, 0x61)
        const b = Buffer.alloc(200_000, 0x62)
        await Promise.all([store.put('over/race', bodyOf(a, 8192)), store.put('over/race', bodyOf(b, 8192))])
        const stored = await readAll(await store.get('over/race'))
        expect(stored.equals(a) || stored.equals(b)).toBe(true)
        expect((await store.head('over/race'))?.sizeBytes).toBe(stored.length)
      })

      it('a reader that opened the blob before an overwrite gets one whole version', async () => {
        const before = Buffer.alloc(1024 * 1024, 0x31)
        const after = Buffer.alloc(512 * 1024, 0x32)
        await store.put('over/reader', bodyOf(before))
        const reading = await store.get('over/reader')
        await store.put('over/reader', bodyOf(after))
        const seen = await readAll(reading)
        expect(seen.equals(before) || seen.equals(after)).toBe(true)
      })

      it('a failed overwrite keeps the previous content', async () => {
        await store.put('over/keep', bodyOf(Buffer.from('original')))
        await expect(store.put('over/keep', failingBody(200 * 1024, new Error('client went away')))).rejects.toThrow()
        expect((await readAll(await store.get('over/keep'))).toString()).toBe('original')
      })
    })

    describe('list', () => {
      beforeEach(async () => {
        const blobs: Record<string, number> = {
          'users/alice/1': 1,
          'users/alice/2': 22,
          'users/alice/deep/3': 333,
          'users/alicex/4': 4,
          'users/bob/5': 5,
          'other/6': 6,
        }
        for (const [key, size] of Object.entries(blobs)) await store.put(key, bodyOf(Buffer.alloc(size, 7)))
      })

      it('yields exactly the keys under a prefix, at any depth, with their sizes', async () => {
        const listed = await listAll(store, 'users/alice/')
        expect(listed.map((b) => [b.key, b.sizeBytes])).toEqual([
          ['users/alice/1', 1],
          ['users/alice/2', 22],
          ['users/alice/deep/3', 333],
        ])
        for (const info of listed) expect(info.modifiedAt).toBeInstanceOf(Date)
      })

      it('yields every key for the empty prefix', async () => {
        expect((await listAll(store, '')).map((b) => b.key)).toEqual([
          'other/6',
          'users/alice/1',
          'users/alice/2',
          'users/alice/deep/3',
          'users/alicex/4',
          'users/bob/5',
        ])
      })

      it('yields nothing for a prefix with no keys', async () => {
        expect(await listAll(store, 'nobody/')).toEqual([])
      })

      it('omits deleted keys', async () => {
        await store.delete('users/alice/2')
        expect((await listAll(store, 'users/alice/')).map((b) => b.key)).toEqual(['users/alice/1', 'users/alice/deep/3'])
      })
    })

    describe('beforePublish', () => {
      it('the blob stays invisible until beforePublish resolves', async () => {
        let release!: () => void
        const gate = new Promise<void>((resolve) => (release = resolve))
        let gateReached!: () => void
        const reached = new Promise<void>((resolve) => (gateReached = resolve))
        const put = store.put('gate/blob', bodyOf(Buffer.from('gated bytes')), {
          beforePublish: () => {
            gateReached()
            return gate
          },
        })
        await reached
        expect(await store.head('gate/blob')).toBeUndefined()
        release()
        expect((await put).sizeBytes).toBe(11)
        expect(await readAll(await store.get('gate/blob'))).toEqual(Buffer.from('gated bytes'))
      })

      it('a rejected beforePublish fails the put and leaves nothing', async () => {
        const cause = new Error('record not durable')
        const error = await rejectionOf(() => store.put('gate/refused', bodyOf(Buffer.alloc(4096, 7)), { beforePublish: () => Promise.reject(cause) }))
        expect(error).toBe(cause)
        expect(await store.head('gate/refused')).toBeUndefined()
        expect(await listAll(store, '')).toEqual([])
      })
    })

    describe('signal', () => {
      it('aborted before the blob is published: rejects with the reason and publishes nothing', async () => {
        const overdue = new AbortController()
        const reason = new Error('upload deadline passed')
        const error = await rejectionOf(() =>
          store.put('signal/before', bodyOf(Buffer.alloc(4096, 7)), {
            beforePublish: async () => overdue.abort(reason),
            signal: overdue.signal,
          }),
        )
        expect(error).toBe(reason)
        expect(await store.head('signal/before')).toBeUndefined()
        expect(await listAll(store, '')).toEqual([])
      })

      it('aborted once the whole body is read, while it is being stored: rejects with the reason and publishes nothing', async () => {
        const overdue = new AbortController()
        const reason = new Error('upload deadline passed')
        const body = bodyOf(Buffer.alloc(1024 * 1024, 9))
        body.once('end', () => overdue.abort(reason))
        const error = await rejectionOf(() => store.put('signal/storing', body, { signal: overdue.signal }))
        expect(error).toBe(reason)
        expect(await store.head('signal/storing')).toBeUndefined()
        expect(await listAll(store, '')).toEqual([])
      })
    })

    describe('failed puts leave nothing behind', () => {
      it('a body that errors midway rejects, and the key is not stored or listed', async () => {
        const cause = new Error('client went away')
        const error = await rejectionOf(() => store.put('fail/errored', failingBody(300 * 1024, cause)))
        // The body's own error comes back, so an upload refused for its size or type keeps its status.
        expect(error).toBe(cause)
        expect(await store.head('fail/errored')).toBeUndefined()
        await expect(store.get('fail/errored')).rejects.toBeInstanceOf(BlobNotFoundError)
        expect(await listAll(store, '')).toEqual([])
      })

      it('a body destroyed without an error (an aborted request) rejects and leaves nothing', async () => {
        await expect(store.put('fail/aborted', failingBody(300 * 1024))).rejects.toThrow()
        expect(await store.head('fail/aborted')).toBeUndefined()
        expect(await listAll(store, '')).toEqual([])
      })
    })

    describe('unsafe keys are rejected before any I/O', () => {
      it.each(UNSAFE_KEYS)('put refuses %s without reading the body', async (_label, key) => {
        let bodyRead = false
        const body = new Readable({
          read() {
            bodyRead = true
            this.push(Buffer.from('should never be read'))
            this.push(null)
          },
        })
        await rejectionOf(() => store.put(key, body))
        expect(bodyRead).toBe(false)
        expect(await listAll(store, '')).toEqual([])
      })

      it.each(UNSAFE_KEYS)('get, head and delete refuse %s', async (_label, key) => {
        expect(await rejectionOf(() => store.get(key))).not.toBeInstanceOf(BlobNotFoundError)
        await rejectionOf(() => store.get(key, { range: { start: 0, end: 0 } }))
        await rejectionOf(() => store.head(key))
        await rejectionOf(() => store.delete(key))
      })
    })

    describe('concurrency', () => {
      it('concurrent puts of different keys all succeed with their own content', async () => {
        const contents = Array.from({ length: 16 }, (_, i) => randomBytes(50_000 + i * 1000))
        const infos = await Promise.all(contents.map((bytes, i) => store.put(`conc/${i}/blob`, bodyOf(bytes, 4096))))
        expect(infos.map((info) => info.sizeBytes)).toEqual(contents.map((bytes) => bytes.length))
        for (const [i, bytes] of contents.entries()) expect((await readAll(await store.get(`conc/${i}/blob`))).equals(bytes)).toBe(true)
        expect(await listAll(store, 'conc/')).toHaveLength(16)
      })
    })
  })
}
