import { close, open } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { promisify } from 'node:util'

const openFd = promisify(open)
const closeFd = promisify(close)

export interface OpenFileCacheOptions {
  /** Descriptors kept open at most; the least recently used one is closed first. */
  readonly maxFiles: number
  /** A descriptor is not used once it is this old, however often it was, and is closed within a quarter more. */
  readonly maxAgeMs: number
}

interface Entry {
  readonly path: string
  readonly fd: Promise<number>
  readonly openedAt: number
  users: number
  retired: boolean
}

/**
 * Read-only descriptors of recently read files, kept open for a short while, as nginx's
 * open_file_cache does: a file read again and again (an image in a list, a document an agent
 * keeps reading) costs one read instead of open, read and close, and on this kind of VM each of
 * those is a threadpool trip that costs more CPU than reading a small file (see bench).
 *
 * Only for files that never change once in place. Whoever deletes or replaces one in this process
 * calls `forget`; a change made by another process is seen at the latest `maxAgeMs` later (until
 * then the old descriptor also keeps a deleted file's disk space).
 */
export class OpenFileCache {
  /** In order of last use, least recent first. */
  private readonly entries = new Map<string, Entry>()
  private readonly sweeper: NodeJS.Timeout
  private closed = false

  constructor(private readonly options: OpenFileCacheOptions) {
    this.sweeper = setInterval(() => this.closeExpired(), options.maxAgeMs / 4)
    this.sweeper.unref()
  }

  /** Runs `read` with a descriptor of `path`; a read that fails closes it, so the next one reopens. */
  async use<T>(path: string, read: (fd: number) => Promise<T>): Promise<T> {
    const entry = this.acquire(path)
    try {
      return await read(await entry.fd)
    } catch (error) {
      this.retire(entry)
      throw error
    } finally {
      entry.users -= 1
      if (entry.retired && entry.users === 0) this.closeEntry(entry)
    }
  }

  /** The file at `path` was deleted or replaced: reads from now on open it anew. */
  forget(path: string): void {
    const entry = this.entries.get(path)
    if (entry) this.retire(entry)
  }

  /** Closes every descriptor (those in use once their reads end); later reads each open and close their own. */
  close(): void {
    this.closed = true
    clearInterval(this.sweeper)
    for (const entry of [...this.entries.values()]) this.retire(entry)
  }

  get size(): number {
    return this.entries.size
  }

  private acquire(path: string): Entry {
    let entry = this.entries.get(path)
    if (entry && performance.now() - entry.openedAt >= this.options.maxAgeMs) {
      this.retire(entry)
      entry = undefined
    }
    if (entry) {
      // Most recently used last.
      this.entries.delete(path)
    } else {
      const fd = openFd(path, 'r')
      // A failed open is seen by each user through `read`; here it must not go unhandled.
      fd.catch(() => {})
      entry = { path, fd, openedAt: performance.now(), users: 0, retired: this.closed }
      if (this.closed) {
        entry.users += 1
        return entry
      }
      const oldest = this.entries.size >= this.options.maxFiles ? this.entries.values().next().value : undefined
      if (oldest) this.retire(oldest)
    }
    this.entries.set(path, entry)
    entry.users += 1
    return entry
  }

  private retire(entry: Entry): void {
    if (entry.retired) return
    entry.retired = true
    if (this.entries.get(entry.path) === entry) this.entries.delete(entry.path)
    if (entry.users === 0) this.closeEntry(entry)
  }

  private closeEntry(entry: Entry): void {
    entry.fd.then(
      (fd) => closeFd(fd).catch(() => {}),
      () => {},
    )
  }

  private closeExpired(): void {
    const now = performance.now()
    for (const entry of [...this.entries.values()]) if (now - entry.openedAt >= this.options.maxAgeMs) this.retire(entry)
  }
}
