import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlobNotFoundError } from '../../src/blob/blob-store.js'
import { LocalBlobStore } from '../../src/blob/local-blob-store.js'
import { descriptorsOn, expectDescriptors } from '../helpers/descriptors.js'
import { bodyOf, describeBlobStore, failingBody } from './blob-store.js'

async function makeRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'cabinet-local-blobs-'))
}

describeBlobStore('LocalBlobStore', async () => {
  const rootDir = await makeRoot()
  const store = await LocalBlobStore.create({ rootDir })
  return { store, cleanup: () => rm(rootDir, { recursive: true, force: true }) }
})

describe('LocalBlobStore on disk', () => {
  let rootDir: string
  let store: LocalBlobStore

  beforeEach(async () => {
    rootDir = await makeRoot()
    store = await LocalBlobStore.create({ rootDir })
  })

  afterEach(async () => {
    await store.close()
    await rm(rootDir, { recursive: true, force: true })
  })

  const modeOf = async (path: string) => (await stat(path)).mode & 0o777

  describe.each([
    ['the usual umask 022', 0o022],
    ['a strict umask 077', 0o077],
    ['an open umask 000', 0o000],
  ])('permissions under %s', (_label, umask) => {
    it('blob files are 0640 and every folder 0750', async () => {
      const previous = process.umask(umask)
      try {
        const freshRoot = join(rootDir, 'fresh')
        const fresh = await LocalBlobStore.create({ rootDir: freshRoot })
        await fresh.put('ab/cd/abcdef', bodyOf(Buffer.from('private')))
        await fresh.put('ab/ce/abcef0', bodyOf(Buffer.from('private too')))

        expect((await modeOf(join(freshRoot, 'blobs/ab/cd/abcdef'))).toString(8)).toBe('640')
        expect((await modeOf(join(freshRoot, 'blobs/ab/ce/abcef0'))).toString(8)).toBe('640')
        for (const dir of ['', 'blobs', 'tmp', 'blobs/ab', 'blobs/ab/cd', 'blobs/ab/ce']) {
          expect({ dir, mode: (await modeOf(join(freshRoot, dir))).toString(8) }).toEqual({ dir, mode: '750' })
        }
        await fresh.close()
      } finally {
        process.umask(previous)
      }
    })
  })

  it('concurrent puts into the same new shard leave every folder 0750 under a strict umask', async () => {
    const previous = process.umask(0o077)
    try {
      await Promise.all(Array.from({ length: 24 }, (_, i) => store.put(`ef/${String(i % 3).padStart(2, '0')}/blob-${i}`, bodyOf(Buffer.from(`blob ${i}`)))))
    } finally {
      process.umask(previous)
    }
    for (const dir of ['blobs/ef', 'blobs/ef/00', 'blobs/ef/01', 'blobs/ef/02']) {
      expect({ dir, mode: (await modeOf(join(rootDir, dir))).toString(8) }).toEqual({ dir, mode: '750' })
    }
  })

  it('a failed put leaves no file in <root>/tmp', async () => {
    await expect(store.put('ab/cd/failed', failingBody(512 * 1024, new Error('client went away')))).rejects.toThrow()
    expect(await readdir(join(rootDir, 'tmp'))).toEqual([])
    expect(await readdir(join(rootDir, 'blobs'), { recursive: true })).not.toContain('ab/cd/failed')
  })

  it('a successful put leaves no file in <root>/tmp', async () => {
    await store.put('ab/cd/ok', bodyOf(Buffer.alloc(100_000, 3)))
    expect(await readdir(join(rootDir, 'tmp'))).toEqual([])
  })

  it('removeAbandonedWrites removes old temp files and keeps fresh ones and blobs', async () => {
    await store.put('ab/cd/kept', bodyOf(Buffer.from('a stored blob')))
    const tmp = join(rootDir, 'tmp')
    await writeFile(join(tmp, 'old.part'), 'left by a crash')
    await writeFile(join(tmp, 'fresh.part'), 'being written now')
    const anHourAgo = new Date(Date.now() - 60 * 60_000)
    await utimes(join(tmp, 'old.part'), anHourAgo, anHourAgo)

    expect(await store.removeAbandonedWrites(10 * 60_000)).toBe(1)
    expect(await readdir(tmp)).toEqual(['fresh.part'])
    expect((await store.head('ab/cd/kept'))?.sizeBytes).toBe(13)
  })

  it('availableBytes is a positive number', async () => {
    const available = await store.availableBytes()
    expect(typeof available).toBe('number')
    expect(Number.isFinite(available)).toBe(true)
    expect(available).toBeGreaterThan(0)
  })

  describe('descriptors kept open for blobs read in one go', () => {
    const blobPath = (key: string) => join(rootDir, 'blobs', key)
    const whole = { start: 0, end: 4 }

    it('a blob read again and again uses one descriptor, and close() releases it', async () => {
      await store.put('ab/cd/hot', bodyOf(Buffer.from('hot!!')))
      for (let i = 0; i < 10; i++) expect((await store.readBuffer('ab/cd/hot', whole)).toString()).toBe('hot!!')
      expect(await descriptorsOn(blobPath('ab/cd/hot'))).toBe(1)
      await store.close()
      await expectDescriptors([blobPath('ab/cd/hot')], [0])
    })

    it('a deleted blob is not found at once, and its descriptor is closed', async () => {
      await store.put('ab/cd/gone', bodyOf(Buffer.from('gone!')))
      expect((await store.readBuffer('ab/cd/gone', whole)).toString()).toBe('gone!')
      await store.delete('ab/cd/gone')
      await expect(store.readBuffer('ab/cd/gone', whole)).rejects.toBeInstanceOf(BlobNotFoundError)
      await expectDescriptors([blobPath('ab/cd/gone')], [0])
    })

    it('a blob put again under the same key is read with its new bytes', async () => {
      await store.put('ab/cd/again', bodyOf(Buffer.from('first')))
      expect((await store.readBuffer('ab/cd/again', whole)).toString()).toBe('first')
      await store.put('ab/cd/again', bodyOf(Buffer.from('later')))
      expect((await store.readBuffer('ab/cd/again', whole)).toString()).toBe('later')
    })
  })
})
