import { read as readCallback } from 'node:fs'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { descriptorsOn, expectDescriptors } from '../../test/helpers/descriptors.js'
import { OpenFileCache } from './open-file-cache.js'

const readFd = promisify(readCallback)

async function readAll(fd: number): Promise<string> {
  const buffer = Buffer.alloc(64)
  const { bytesRead } = await readFd(fd, buffer, 0, buffer.length, 0)
  return buffer.subarray(0, bytesRead).toString()
}

describe('OpenFileCache', () => {
  let dir: string
  let cache: OpenFileCache

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cabinet-open-files-'))
    cache = new OpenFileCache({ maxFiles: 3, maxAgeMs: 60_000 })
  })

  afterEach(async () => {
    cache.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('reads a file again and again through one descriptor', async () => {
    const path = join(dir, 'a')
    await writeFile(path, 'hello')
    const reads = await Promise.all(Array.from({ length: 20 }, () => cache.use(path, readAll)))
    expect(new Set(reads)).toEqual(new Set(['hello']))
    expect(await descriptorsOn(path)).toBe(1)
  })

  it('keeps at most maxFiles descriptors, closing the least recently used', async () => {
    const paths = ['a', 'b', 'c', 'd', 'e'].map((name) => join(dir, name))
    for (const path of paths) await writeFile(path, path)
    for (const path of paths.slice(0, 3)) await cache.use(path, readAll)
    // Read again, "a" is now the most recently used: "b" and then "c" make room for "d" and "e".
    await cache.use(paths[0]!, readAll)
    for (const path of paths.slice(3)) expect(await cache.use(path, readAll)).toBe(path)
    expect(cache.size).toBe(3)
    await expectDescriptors(paths, [1, 0, 0, 1, 1])
  })

  it('after forget, the next read opens the file anew, and the old descriptor closes once its read ends', async () => {
    const path = join(dir, 'a')
    await writeFile(path, 'old')
    let opened!: () => void
    const isOpen = new Promise<void>((resolve) => (opened = resolve))
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slowRead = cache.use(path, async (fd) => {
      opened()
      await gate
      return readAll(fd)
    })
    await isOpen
    // Replaced the way a blob is: a new file renamed over the old name.
    await writeFile(join(dir, 'a.new'), 'new')
    await rename(join(dir, 'a.new'), path)
    cache.forget(path)

    expect(await cache.use(path, readAll)).toBe('new')
    expect(await descriptorsOn(path)).toBe(2)
    release()
    expect(await slowRead).toBe('old')
    await expectDescriptors([path], [1])
    expect(cache.size).toBe(1)
  })

  it('lets go of a file deleted behind its back once maxAgeMs has passed', async () => {
    const shortLived = new OpenFileCache({ maxFiles: 3, maxAgeMs: 200 })
    try {
      const path = join(dir, 'a')
      await writeFile(path, 'old')
      expect(await shortLived.use(path, readAll)).toBe('old')
      await rm(path)
      // Closed by the sweep without another read, so the deleted file's space comes back...
      await expectDescriptors([path], [0])
      // ...and the next read sees that the file is gone.
      await expect(shortLived.use(path, readAll)).rejects.toMatchObject({ code: 'ENOENT' })
    } finally {
      shortLived.close()
    }
  })

  it('a failed open or read leaves nothing open and the next read tries again', async () => {
    const path = join(dir, 'a')
    await expect(cache.use(path, readAll)).rejects.toMatchObject({ code: 'ENOENT' })
    expect(cache.size).toBe(0)

    await writeFile(path, 'there now')
    await expect(
      cache.use(path, async () => {
        throw new Error('read failed')
      }),
    ).rejects.toThrow('read failed')
    expect(cache.size).toBe(0)
    await expectDescriptors([path], [0])
    expect(await cache.use(path, readAll)).toBe('there now')
  })

  it('close() closes every descriptor, one in use once its read ends, and keeps none opened afterwards', async () => {
    const [a, b] = ['a', 'b'].map((name) => join(dir, name)) as [string, string]
    await writeFile(a, 'x')
    await writeFile(b, 'y')
    await cache.use(a, readAll)
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const inFlight = cache.use(b, async (fd) => {
      await gate
      return readAll(fd)
    })
    cache.close()
    await expectDescriptors([a], [0])
    release()
    expect(await inFlight).toBe('y')
    expect(await cache.use(a, readAll)).toBe('x')
    expect(cache.size).toBe(0)
    await expectDescriptors([a, b], [0, 0])
  })
})
