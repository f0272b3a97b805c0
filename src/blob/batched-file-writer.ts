import { writev } from 'node:fs'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'

const writevFd = promisify(writev)

/** Linux's IOV_MAX: a writev of more buffers would be cut short anyway. */
const MAX_BUFFERS_PER_WRITE = 1024
/** Bytes wait at most this long for their batch to fill, so a client that stalls does not keep them in memory. */
const MAX_WAIT_MS = 20

/**
 * Writes a stream to an open descriptor in batches of up to `batchBytes` (one writev each), where
 * fs.WriteStream makes one write per chunk. An upload arrives in socket-sized chunks (64 KiB or less),
 * and each write is a trip through libuv's threadpool that costs more on this kind of VM than copying
 * the chunk. At most `batchBytes` plus one chunk waits in memory per stream, and for at most MAX_WAIT_MS.
 *
 * Writes run one at a time, in order. Like fs.WriteStream, it finishes destroying (and emits 'close')
 * only once a write in flight has returned, so whoever closes the descriptor after 'close' cannot race
 * a write into a reused one.
 */
export class BatchedFileWriter extends Writable {
  bytesWritten = 0
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** The writes issued so far, chained: each batch starts after the one before it. */
  private writes: Promise<void> = Promise.resolve()
  private idleTimer: NodeJS.Timeout | undefined

  constructor(
    private readonly fd: number,
    private readonly batchBytes: number,
  ) {
    super()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // An empty chunk would make an empty writev, which cannot be told from a write that failed to progress.
    if (chunk.length === 0) return callback()
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes >= this.batchBytes || this.pending.length >= MAX_BUFFERS_PER_WRITE) {
      // The next chunk is taken once this batch is on disk: backpressure, as with one write per chunk.
      this.flush().then(() => callback(), callback)
      return
    }
    if (this.idleTimer) this.idleTimer.refresh()
    else this.idleTimer = setTimeout(() => this.flush().catch((error: Error) => this.destroy(error)), MAX_WAIT_MS)
    callback()
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush().then(() => callback(), callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer)
    this.pending = []
    this.pendingBytes = 0
    // Batches not started yet are dropped (see writeAll); one in the threadpool is waited for.
    this.writes.then(
      () => callback(error),
      () => callback(error),
    )
  }

  /** Queues what is pending as one batch; resolves once it and every batch before it are written. */
  private flush(): Promise<void> {
    clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    const buffers = this.pending
    this.pending = []
    this.pendingBytes = 0
    // A failed batch fails every later one: nothing is written after a gap.
    this.writes = this.writes.then(() => this.writeAll(buffers))
    return this.writes
  }

  /** writev may write less than asked (a signal, a nearly full disk): the rest goes in another call. */
  private async writeAll(buffers: Buffer[]): Promise<void> {
    let rest = buffers
    while (rest.length > 0 && !this.destroyed) {
      const { bytesWritten: written } = await writevFd(this.fd, rest)
      if (written === 0) throw new Error('writev wrote nothing')
      this.bytesWritten += written
      let skip = written
      let index = 0
      while (index < rest.length && skip >= rest[index]!.length) skip -= rest[index++]!.length
      rest = rest.slice(index)
      if (rest.length > 0 && skip > 0) rest[0] = rest[0]!.subarray(skip)
    }
  }
}
