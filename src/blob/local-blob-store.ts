import { close, createReadStream, fchmod, fdatasync, open as openCallback, read, type Dirent } from 'node:fs'
import { chmod, mkdir, open, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import {
  BlobNotFoundError,
  BlobStorageFullError,
  type AbandonedWrite,
  type BlobCapability,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type GetOptions,
  type PutOptions,
  type WrongMode,
} from './blob-store.js'
import { pipe } from '../pipe.js'
import { BatchedFileWriter } from './batched-file-writer.js'
import { OpenFileCache } from './open-file-cache.js'
import { resolveInside } from './secure-path.js'

const FILE_MODE = 0o640
const DIR_MODE = 0o750
/** Larger reads than Node's 64 KiB default: fewer syscalls and chunks per download (see bench). */
const READ_CHUNK_BYTES = 512 * 1024
/** Uploads are written to disk this much at a time rather than chunk by chunk (see BatchedFileWriter). */
const WRITE_BATCH_BYTES = 512 * 1024
/** Blobs read in one go keep their descriptor open this long, at most this many (see OpenFileCache). */
const OPEN_FILE_MAX_AGE_MS = 10_000
const OPEN_FILES_KEPT = 256

export interface LocalBlobStoreOptions {
  /** Blobs live in `<rootDir>/blobs`, in-progress writes in `<rootDir>/tmp` (same filesystem, so rename is atomic). */
  readonly rootDir: string
}

// Plain descriptors rather than FileHandles: a FileHandle's close() waits for every stream made from it.
const openFd = promisify(openCallback)
const fchmodFd = promisify(fchmod)
const fdatasyncFd = promisify(fdatasync)
const closeFd = promisify(close)
const readFd = promisify(read)

/** Does the umask take bits from `mode`? Told by a probe file, since asking process.umask() is deprecated. */
async function umaskNarrows(dir: string, mode: number): Promise<boolean> {
  const probe = join(dir, `.mode-probe-${randomBytes(6).toString('hex')}`)
  await closeFd(await openFd(probe, 'wx', mode))
  try {
    return ((await stat(probe)).mode & 0o777) !== mode
  } finally {
    await unlink(probe)
  }
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

  /** statfs at most this often; writes since the last reading are subtracted from it meanwhile. */
  private static readonly FREE_SPACE_READING_MS = 1000
  private freeSpace: { bytes: number; readAtMs: number } | undefined
  private writtenSinceReading = 0
  private readonly openFiles = new OpenFileCache({ maxFiles: OPEN_FILES_KEPT, maxAgeMs: OPEN_FILE_MAX_AGE_MS })

  private constructor(
    private readonly rootDir: string,
    private readonly blobsDir: string,
    private readonly tmpDir: string,
    /** Whether the process umask (read once, at start) takes bits from FILE_MODE, so new files need a chmod. */
    private readonly umaskNarrowsFileMode: boolean,
  ) {}

  static async create(options: LocalBlobStoreOptions): Promise<LocalBlobStore> {
    const blobsDir = join(options.rootDir, 'blobs')
    const tmpDir = join(options.rootDir, 'tmp')
    for (const dir of [options.rootDir, blobsDir, tmpDir]) {
      await mkdir(dir, { recursive: true, mode: DIR_MODE })
      await chmod(dir, DIR_MODE)
    }
    return new LocalBlobStore(options.rootDir, blobsDir, tmpDir, await umaskNarrows(tmpDir, FILE_MODE))
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    const finalPath = resolveInside(this.blobsDir, key)
    const tempPath = join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`)
    const fd = await openFd(tempPath, 'wx', FILE_MODE).catch((error: unknown) => {
      // The sender must not wait on a body nobody will read.
      body.destroy()
      throw isNoSpace(error) ? new BlobStorageFullError(error) : error
    })
    let path = tempPath
    const file = new BatchedFileWriter(fd, WRITE_BATCH_BYTES)
    // A failed upload rejects as soon as the body fails, perhaps with a write still in flight: the
    // descriptor is closed only once the writer has let go of it, so no late write lands in a reused one.
    const released = new Promise<void>((resolve) => file.once('close', resolve))
    try {
      await pipe(body, file)
      // open()'s mode is masked by the umask; a chmod is a journaled metadata write, so only when needed.
      if (this.umaskNarrowsFileMode) await fchmodFd(fd, FILE_MODE)
      await options.beforePublish?.()
      options.signal?.throwIfAborted()
      // Complete before it is renamed, so readers see all of it or nothing; durable before put returns.
      const changedDirs = await this.renameIntoPlace(tempPath, finalPath)
      path = finalPath
      this.openFiles.forget(finalPath)
      // Syncing after the rename lets one journal commit cover the data, the inode and the new name (ext4).
      await fdatasyncFd(fd)
      for (const dir of changedDirs) await this.syncDir(dir)
      this.writtenSinceReading += file.bytesWritten
      return { key, sizeBytes: file.bytesWritten, modifiedAt: new Date() }
    } catch (error) {
      await unlink(path).catch(() => {})
      if (path === finalPath) this.openFiles.forget(finalPath)
      throw isNoSpace(error) ? new BlobStorageFullError(error) : error
    } finally {
      file.destroy()
      await released
      await closeFd(fd).catch(() => {})
    }
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

  async readBuffer(key: string, range: ByteRange): Promise<Buffer> {
    const path = resolveInside(this.blobsDir, key)
    return this.openFiles.use(path, async (fd) => {
      const length = range.end - range.start + 1
      const buffer = Buffer.allocUnsafe(length)
      let filled = 0
      while (filled < length) {
        const { bytesRead } = await readFd(fd, buffer, filled, length - filled, range.start + filled)
        if (bytesRead === 0) throw new Error(`Blob ${key} ends before byte ${range.end}`)
        filled += bytesRead
      }
      return buffer
    }).catch((error: unknown) => {
      // A shard folder opens like a file and fails on read: it is not a blob.
      throw isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR' ? new BlobNotFoundError(key) : error
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
    const path = resolveInside(this.blobsDir, key)
    try {
      await unlink(path).catch((error: unknown) => {
        // A shard folder is not a blob: deleting it as one is a no-op, like a missing key.
        const code = (error as NodeJS.ErrnoException).code
        if (!isMissing(error) && code !== 'EISDIR' && code !== 'EPERM') throw error
      })
    } finally {
      // After the unlink, so that a read opening the blob meanwhile does not keep it readable.
      this.openFiles.forget(path)
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    yield* this.walk(this.blobsDir, prefix)
  }

  async availableBytes(): Promise<number> {
    const now = Date.now()
    if (!this.freeSpace || now - this.freeSpace.readAtMs >= LocalBlobStore.FREE_SPACE_READING_MS) {
      const fs = await statfs(this.blobsDir)
      this.freeSpace = { bytes: fs.bavail * fs.bsize, readAtMs: now }
      this.writtenSinceReading = 0
    }
    return Math.max(0, this.freeSpace.bytes - this.writtenSinceReading)
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

  async close(): Promise<void> {
    this.openFiles.close()
  }

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

  /**
   * Renames into the sharded tree, creating the shard folders only the first time one is missing.
   * Returns the folders whose entries changed, deepest first: each must be synced for the name to last.
   */
  private async renameIntoPlace(from: string, to: string): Promise<string[]> {
    const parent = dirname(to)
    try {
      await rename(from, to)
      return [parent]
    } catch (error) {
      if (!isMissing(error)) throw error
    }
    const changed = [parent]
    const created = await mkdir(parent, { recursive: true, mode: DIR_MODE })
    if (created !== undefined) {
      // mkdir's mode is masked by the umask; set the shard folders it created explicitly.
      for (let dir = parent; dir.length >= created.length; dir = dirname(dir)) {
        await chmod(dir, DIR_MODE)
        changed.push(dirname(dir))
      }
    }
    await rename(from, to)
    return changed
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
