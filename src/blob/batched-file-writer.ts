import { writev } from 'node:fs'
import { Writable } from 'node:stream'

/** Linux's IOV_MAX: a writev of more buffers would be cut short anyway. */
const MAX_BUFFERS_PER_WRITE = 1024

/**
 * Writes a stream to an open descriptor in batches of at least `batchBytes` (one writev each), where
 * fs.WriteStream makes one write per chunk. An upload arrives in socket-sized chunks (64 KiB or less),
 * and each write is a trip through libuv's threadpool that costs more on this kind of VM than copying
 * the chunk. At most `batchBytes` plus one chunk waits in memory per stream.
 *
 * Like fs.WriteStream, it finishes destroying (and emits 'close') only once a writev in flight has
 * returned, so whoever closes the descriptor after 'close' cannot race a write into a reused one.
 */
export class BatchedFileWriter extends Writable {
  bytesWritten = 0
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Set while a writev is in the threadpool: what to run once it returns. */
  private writing: { afterwards?: () => void } | undefined

  constructor(
    private readonly fd: number,
    private readonly batchBytes: number,
  ) {
    super()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes < this.batchBytes && this.pending.length < MAX_BUFFERS_PER_WRITE) return callback()
    this.flush(callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush(callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.pending = []
    this.pendingBytes = 0
    if (this.writing) this.writing.afterwards = () => callback(error)
    else callback(error)
  }

  private flush(callback: (error?: Error | null) => void): void {
    const buffers = this.pending
    this.pending = []
    this.pendingBytes = 0
    this.writeAll(buffers, callback)
  }

  /** writev may write less than asked (a signal, a nearly full disk): the rest goes in another call. */
  private writeAll(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    if (buffers.length === 0) return callback()
    const writing: { afterwards?: () => void } = {}
    this.writing = writing
    writev(this.fd, buffers, (error, written) => {
      this.writing = undefined
      if (writing.afterwards) {
        // Destroyed meanwhile: the rest is not written (as fs.WriteStream does).
        callback(error)
        return writing.afterwards()
      }
      if (error) return callback(error)
      if (written === 0) return callback(new Error('writev wrote nothing'))
      this.bytesWritten += written
      let skip = written
      let index = 0
      while (index < buffers.length && skip >= buffers[index]!.length) skip -= buffers[index++]!.length
      const rest = buffers.slice(index)
      if (rest.length > 0 && skip > 0) rest[0] = rest[0]!.subarray(skip)
      this.writeAll(rest, callback)
    })
  }
}
