import { createReadStream, createWriteStream, type Dirent } from 'node:fs'
import { chmod, mkdir, open, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import {
  BlobNotFoundError,
  BlobStorageFullError,
  type AbandonedWrite,
  type BlobCapability,
  type BlobInfo,
  type BlobStore,
  type GetOptions,
  type WrongMode,
} from './blob-store.js'
import { resolveInside } from './secure-path.js'

const FILE_MODE = 0o640
const DIR_MODE = 0o750
/** Larger reads than Node's 64 KiB default: fewer syscalls and chunks per download (see bench). */
const READ_CHUNK_BYTES = 512 * 1024

export interface LocalBlobStoreOptions {
  /** Blobs live in `<rootDir>/blobs`, in-progress writes in `<rootDir>/tmp` (same filesystem, so rename is atomic). */
  readonly rootDir: string
}

function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'ENOSPC' || code === 'EDQUOT'
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT'
}

/** Blobs as files on the local disk: written to a temp file, fsynced, then renamed into a sharded 0750 tree. */
export class LocalBlobStore implements BlobStore {
  readonly capabilities: ReadonlySet<BlobCapability> = new Set(['range'])

  private constructor(
    private readonly rootDir: string,
    private readonly blobsDir: string,
    private readonly tmpDir: string,
  ) {}

  static async create(options: LocalBlobStoreOptions): Promise<LocalBlobStore> {
    const blobsDir = join(options.rootDir, 'blobs')
    const tmpDir = join(options.rootDir, 'tmp')
    for (const dir of [options.rootDir, blobsDir, tmpDir]) {
      await mkdir(dir, { recursive: true, mode: DIR_MODE })
      await chmod(dir, DIR_MODE)
    }
    return new LocalBlobStore(options.rootDir, blobsDir, tmpDir)
  }

  async put(key: string, body: Readable): Promise<BlobInfo> {
    const finalPath = resolveInside(this.blobsDir, key)
    const tempPath = join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`)
    // flush: the data is fsynced before the stream closes, so a renamed blob is durable.
    const file = createWriteStream(tempPath, { flags: 'wx', mode: FILE_MODE, flush: true })
    try {
      await pipeline(body, file)
      await chmod(tempPath, FILE_MODE)
      await this.ensureParentDirs(finalPath)
      await rename(tempPath, finalPath)
      await this.syncDir(dirname(finalPath))
    } catch (error) {
      await unlink(tempPath).catch(() => {})
      throw isNoSpace(error) ? new BlobStorageFullError(error) : error
    }
    return { key, sizeBytes: file.bytesWritten, modifiedAt: new Date() }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const path = resolveInside(this.blobsDir, key)
    // Open first so a missing blob rejects here instead of erroring mid-response.
    const handle = await open(path, 'r').catch((error: unknown) => {
      throw isMissing(error) ? new BlobNotFoundError(key) : error
    })
    const info = await handle.stat()
    if (!info.isFile()) {
      await handle.close()
      throw new BlobNotFoundError(key)
    }
    const { start, end } = options.range ?? { start: 0, end: info.size - 1 }
    // A known end spares the extra empty read at end of file; a small blob gets a buffer its own size.
    return createReadStream('', {
      fd: handle,
      highWaterMark: Math.max(1, Math.min(READ_CHUNK_BYTES, end - start + 1)),
      start,
      ...(end >= start ? { end } : {}),
    })
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const info = await stat(resolveInside(this.blobsDir, key))
      return info.isFile() ? { key, sizeBytes: info.size, modifiedAt: info.mtime } : undefined
    } catch (error) {
      if (isMissing(error)) return undefined
      throw error
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(resolveInside(this.blobsDir, key)).catch((error: unknown) => {
      // A shard folder is not a blob: deleting it as one is a no-op, like a missing key.
      const code = (error as NodeJS.ErrnoException).code
      if (!isMissing(error) && code !== 'EISDIR' && code !== 'EPERM') throw error
    })
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    yield* this.walk(this.blobsDir, prefix)
  }

  async availableBytes(): Promise<number> {
    const fs = await statfs(this.blobsDir)
    return fs.bavail * fs.bsize
  }

  async removeAbandonedWrites(olderThanMs: number): Promise<number> {
    let removed = 0
    const cutoff = Date.now() - olderThanMs
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name)
      const info = await stat(path).catch(() => undefined)
      if (info && info.mtimeMs <= cutoff) {
        await rm(path, { force: true, recursive: true })
        removed += 1
      }
    }
    return removed
  }

  async *listAbandonedWrites(olderThanMs: number): AsyncIterable<AbandonedWrite> {
    const cutoff = Date.now() - olderThanMs
    for (const name of (await readdir(this.tmpDir)).sort()) {
      const info = await stat(join(this.tmpDir, name)).catch(() => undefined)
      if (info && info.mtimeMs <= cutoff) yield { name: `tmp/${name}`, startedAt: info.mtime }
    }
  }

  async *findWrongModes(): AsyncIterable<WrongMode> {
    for (const dir of [this.rootDir, this.blobsDir, this.tmpDir]) {
      const info = await stat(dir)
      if ((info.mode & 0o777) !== DIR_MODE) yield { path: relative(this.rootDir, dir) || '.', mode: info.mode & 0o777, expectedMode: DIR_MODE }
    }
    yield* this.walkModes(this.blobsDir)
  }

  async fixMode(path: string): Promise<void> {
    const absolute = path === '.' ? this.rootDir : join(this.rootDir, path)
    if (relative(this.rootDir, absolute).startsWith('..')) throw new Error(`Not inside the store: ${path}`)
    const info = await stat(absolute)
    await chmod(absolute, info.isDirectory() ? DIR_MODE : FILE_MODE)
  }

  async close(): Promise<void> {}

  private async *walkModes(dir: string): AsyncIterable<WrongMode> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[])
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name)
      const expectedMode = entry.isDirectory() ? DIR_MODE : FILE_MODE
      const info = await stat(path).catch(() => undefined)
      if (info && (info.mode & 0o777) !== expectedMode) yield { path: relative(this.rootDir, path), mode: info.mode & 0o777, expectedMode }
      if (entry.isDirectory()) yield* this.walkModes(path)
    }
  }

  private async *walk(dir: string, prefix: string): AsyncIterable<BlobInfo> {
    let entries: Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (error) {
      if (isMissing(error)) return
      throw error
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : 1))
    for (const entry of entries) {
      const path = join(dir, entry.name)
      const key = relative(this.blobsDir, path).split('\\').join('/')
      if (entry.isDirectory()) {
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix) || prefix === '') yield* this.walk(path, prefix)
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await stat(path).catch(() => undefined)
        if (info) yield { key, sizeBytes: info.size, modifiedAt: info.mtime }
      }
    }
  }

  private async ensureParentDirs(path: string): Promise<void> {
    const created = await mkdir(dirname(path), { recursive: true, mode: DIR_MODE })
    if (created === undefined) return
    // mkdir's mode is masked by the umask; set the shard folders it created explicitly.
    for (let dir = dirname(path); dir.length >= created.length; dir = dirname(dir)) await chmod(dir, DIR_MODE)
  }

  private async syncDir(dir: string): Promise<void> {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }
}
