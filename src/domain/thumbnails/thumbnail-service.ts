import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { BlobNotFoundError, type BlobStore } from '../../blob/blob-store.js'
import type { DerivedBlob, DerivedBlobRepository, StoredFile } from '../../db/metadata-store.js'
import { AppError, ERRORS } from '../../errors.js'
import type { Locks } from '../../jobs/job-queue.js'

export type ThumbnailFormat = 'webp' | 'jpeg'

const IMAGE_KINDS: ReadonlySet<string> = new Set(['jpg', 'png', 'gif', 'webp'])
const MIME_TYPES: Readonly<Record<ThumbnailFormat, string>> = { webp: 'image/webp', jpeg: 'image/jpeg' }
const EXTENSIONS: Readonly<Record<ThumbnailFormat, string>> = { webp: 'webp', jpeg: 'jpg' }
/** Larger images are refused before decoding (a decompression bomb): 100 megapixels. */
const MAX_INPUT_PIXELS = 100_000_000
/** How often a request waiting on another instance's generation looks again. */
const LOCK_POLL_MS = 100

export interface ThumbnailServiceOptions {
  /** Longest side, in pixels, of each size offered; the first is the default. */
  readonly sizes: readonly number[]
  /** One generation's time limit. */
  readonly timeoutMs: number
  /** Generations run at once by this instance; more wait their turn. */
  readonly concurrency: number
  /** This instance's name in the generation locks. */
  readonly instanceId: string
}

/** A thumbnail ready to send. */
export interface Thumbnail {
  readonly blobKey: string
  readonly sizeBytes: number
  readonly sha256: string
  readonly mimeType: string
}

type Sharp = typeof import('sharp').default

/**
 * Image thumbnails (WebP or JPEG, EXIF orientation applied, every metadata block stripped),
 * generated on first request and kept as derived blobs next to the original
 * (`<file's blob key>.thumb-<size>.<ext>`), deleted with it and counted in nobody's quota.
 *
 * A generation holds a lock named after its blob in the shared database, and requests in this
 * process for the same thumbnail share one promise, so however many arrive at once, on however
 * many instances, each thumbnail is generated once; the others wait and serve the finished blob.
 *
 * sharp is loaded on the first thumbnail, in the main thread (libvips does its work on libuv's
 * threads, and must never be unloaded with a worker thread that used it).
 */
export class ThumbnailService {
  private readonly inflight = new Map<string, Promise<Thumbnail>>()
  private sharp: Promise<Sharp> | undefined
  private running = 0
  private readonly waiting: Array<() => void> = []

  constructor(
    private readonly derived: DerivedBlobRepository,
    private readonly blobs: BlobStore,
    private readonly locks: Locks,
    private readonly options: ThumbnailServiceOptions,
    private readonly logger: Logger,
  ) {}

  get sizes(): readonly number[] {
    return this.options.sizes
  }

  /** The file's thumbnail at `size` (default: the first configured) in `format`, generated now if it does not exist yet. */
  async thumbnailOf(file: StoredFile, request: { size?: number; format?: ThumbnailFormat }): Promise<Thumbnail> {
    if (!IMAGE_KINDS.has(file.kind)) throw ERRORS.thumbnailUnavailable('only images (jpg, png, gif, webp) have thumbnails')
    const size = request.size ?? this.options.sizes[0]!
    if (!this.options.sizes.includes(size)) throw ERRORS.badRequest(`size must be one of ${this.options.sizes.join(', ')}`)
    const format = request.format ?? 'webp'
    const variant = `${size}.${EXTENSIONS[format]}`
    const blobKey = `${file.blobKey}.thumb-${variant}`
    const existing = await this.finished(blobKey, format)
    if (existing) return existing
    let pending = this.inflight.get(blobKey)
    if (!pending) {
      pending = this.generateOnce(file, { blobKey, variant, size, format }).finally(() => this.inflight.delete(blobKey))
      this.inflight.set(blobKey, pending)
    }
    return pending
  }

  /** The thumbnail's bytes; a blob lost from storage is regenerated on the next request. */
  async open(thumbnail: Thumbnail): Promise<Readable> {
    try {
      return await this.blobs.get(thumbnail.blobKey)
    } catch (error) {
      if (!(error instanceof BlobNotFoundError)) throw error
      await this.derived.remove(thumbnail.blobKey)
      throw ERRORS.serviceUnavailable('The thumbnail was lost from storage and will be made again; retry')
    }
  }

  private async finished(blobKey: string, format: ThumbnailFormat): Promise<Thumbnail | undefined> {
    const row = await this.derived.find(blobKey)
    return row ? asThumbnail(row, format) : undefined
  }

  private async generateOnce(file: StoredFile, target: { blobKey: string; variant: string; size: number; format: ThumbnailFormat }): Promise<Thumbnail> {
    const lock = `thumbnail:${file.id}:${target.variant}`
    const owner = this.options.instanceId
    const leaseMs = this.options.timeoutMs * 2 + 10_000
    const deadline = Date.now() + leaseMs
    while (!(await this.locks.tryAcquire(lock, owner, leaseMs))) {
      // Another instance is generating it: serve its result once it is there.
      const done = await this.finished(target.blobKey, target.format)
      if (done) return done
      if (Date.now() > deadline) throw ERRORS.serviceUnavailable('The thumbnail is still being generated; retry')
      await sleep(LOCK_POLL_MS)
    }
    try {
      const done = await this.finished(target.blobKey, target.format)
      if (done) return done
      return await this.withTurn(() => this.generate(file, target))
    } finally {
      await this.locks.release(lock, owner).catch(() => false)
    }
  }

  private async generate(file: StoredFile, target: { blobKey: string; variant: string; size: number; format: ThumbnailFormat }): Promise<Thumbnail> {
    const begun = await this.derived.begin({ blobKey: target.blobKey, fileId: file.id, kind: 'thumbnail', variant: target.variant, createdAt: new Date() })
    if (!begun) throw ERRORS.fileNotFound()
    let written = false
    try {
      const bytes = await this.render(await this.readAll(file), target)
      await this.blobs.put(target.blobKey, Readable.from([bytes]), { contentType: MIME_TYPES[target.format] })
      written = true
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      // The file was deleted while we worked: its delete could not see this blob, so remove it here.
      if (!(await this.derived.complete(target.blobKey, { sizeBytes: bytes.length, sha256 }))) throw ERRORS.fileNotFound()
      return { blobKey: target.blobKey, sizeBytes: bytes.length, sha256, mimeType: MIME_TYPES[target.format] }
    } catch (error) {
      if (written) await this.blobs.delete(target.blobKey).catch(() => {})
      await this.derived.remove(target.blobKey).catch(() => {})
      if (!(error instanceof AppError)) this.logger.warn({ err: error, fileId: file.id, variant: target.variant }, 'thumbnail generation failed')
      throw error
    }
  }

  private async render(input: Buffer, target: { size: number; format: ThumbnailFormat }): Promise<Buffer> {
    const sharp = await this.loadSharp()
    try {
      let image = sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', animated: false })
        .rotate()
        .resize({ width: target.size, height: target.size, fit: 'inside', withoutEnlargement: true })
        .timeout({ seconds: Math.max(1, Math.ceil(this.options.timeoutMs / 1000)) })
      image = target.format === 'jpeg' ? image.flatten({ background: '#ffffff' }).jpeg({ quality: 82 }) : image.webp({ quality: 80 })
      return await image.toBuffer()
    } catch (error) {
      throw ERRORS.thumbnailUnavailable(`the image could not be decoded (${(error as Error).message})`)
    }
  }

  /** The original's bytes; a row whose blob is lost answers like a missing file, as a download does. */
  private async readAll(file: StoredFile): Promise<Buffer> {
    const original = await this.blobs.get(file.blobKey).catch((error: unknown) => {
      if (!(error instanceof BlobNotFoundError)) throw error
      this.logger.error({ fileId: file.id, blobKey: file.blobKey }, 'metadata row has no blob')
      throw ERRORS.fileNotFound()
    })
    const chunks: Buffer[] = []
    for await (const chunk of original as AsyncIterable<Buffer>) chunks.push(chunk)
    return Buffer.concat(chunks)
  }

  private loadSharp(): Promise<Sharp> {
    return (this.sharp ??= import('sharp').then((module) => {
      const sharp = module.default
      // One libvips thread per image and no operation cache: small, steady memory beside the server.
      sharp.concurrency(1)
      sharp.cache(false)
      return sharp
    }))
  }

  private async withTurn<T>(work: () => Promise<T>): Promise<T> {
    while (this.running >= this.options.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.running += 1
    try {
      return await work()
    } finally {
      this.running -= 1
      this.waiting.shift()?.()
    }
  }
}

function asThumbnail(row: DerivedBlob, format: ThumbnailFormat): Thumbnail | undefined {
  if (row.sha256 === undefined || row.sizeBytes === undefined) return undefined
  return { blobKey: row.blobKey, sizeBytes: row.sizeBytes, sha256: row.sha256, mimeType: MIME_TYPES[format] }
}
