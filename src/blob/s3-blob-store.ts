import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type BucketLocationConstraint,
  type CreateBucketCommandInput,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import {
  BlobNotFoundError,
  BlobStorageFullError,
  BlobStoreUnavailableError,
  type AbandonedWrite,
  type BlobCapability,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type GetOptions,
  type PresignOptions,
  type PutOptions,
} from './blob-store.js'
import { assertSafeKey } from './secure-path.js'
import { isNetworkError } from '../outages.js'

/**
 * Bytes buffered per part of a multipart upload. 5 MiB is S3's minimum part size, so it is
 * also the memory one `put` holds; with S3's 10,000-part limit it caps a blob at ~48.8 GiB.
 * Bodies no larger than one part go up as a single PutObject.
 */
const PART_BYTES = 5 * 1024 * 1024
/**
 * Parts uploaded at once. 1 keeps a `put` at one part buffer (~5 MiB, plus a transient copy
 * when lib-storage joins chunks) instead of two. Cabinet's uploads arrive from phones, far
 * slower than the server's link to S3, so pausing the client's stream while a part is sent
 * costs little; and when S3 fails, a single uploader stops reading the body at once
 * instead of draining it into parts that are then thrown away.
 */
const UPLOAD_QUEUE_SIZE = 1
/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 60 * 60
/** Only the TCP connect; a read idling behind a slow downloader must not time out. */
const CONNECT_TIMEOUT_MS = 10_000
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** `create` gives up on a server that accepts connections but never answers. */
const STARTUP_TIMEOUT_MS = 30_000
/** A readiness probe waits this long for the bucket, well within a load balancer's usual check timeout. */
const PING_TIMEOUT_MS = 3_000

export interface S3BlobStoreOptions {
  /**
   * Base URL of an S3-compatible server, e.g. `http://127.0.0.1:7480` (Ceph RGW, MinIO) or
   * `https://cos.ap-guangzhou.myqcloud.com` (Tencent COS). Omit for AWS S3 itself.
   */
  readonly endpoint?: string
  /** Region the requests are signed for, e.g. `us-east-1`; S3-compatible servers usually accept any. */
  readonly region: string
  /** Created by `create` when missing. Cabinet expects the bucket to itself. */
  readonly bucket: string
  /** Static credentials: the SDK's default provider chain is never consulted (it may probe instance metadata over the network). */
  readonly accessKeyId: string
  /** The secret half of the key pair. Never logged, and never part of an error message. */
  readonly secretAccessKey: string
  /**
   * Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`. Required by
   * servers without wildcard DNS (Ceph RGW, MinIO on an IP); AWS and COS prefer `false`.
   */
  readonly forcePathStyle: boolean
  /**
   * A request that sends or receives nothing for this long fails as unavailable (the SDK retries it first),
   * so a server that stops answering cannot hang a download. Default 30 s.
   */
  readonly requestTimeoutMs?: number
}

/** The parts of an AWS SDK error this adapter reads. */
interface S3ErrorFields {
  readonly name?: string
  readonly Code?: string
  readonly code?: string
  readonly message?: string
  readonly $metadata?: { readonly httpStatusCode?: number }
}

function fieldsOf(error: unknown): S3ErrorFields {
  return typeof error === 'object' && error !== null ? (error as S3ErrorFields) : {}
}

function statusOf(error: unknown): number | undefined {
  return fieldsOf(error).$metadata?.httpStatusCode
}

/** S3's error code (`NoSuchKey`, `AccessDenied`…), or the SDK's name for a body-less answer such as HEAD's. */
function codeOf(error: unknown): string | undefined {
  const fields = fieldsOf(error)
  return fields.Code ?? fields.name
}

/**
 * A missing object. A HEAD answer has no body, so a missing bucket is indistinguishable
 * there; GET names it (`NoSuchBucket`), and that is not a missing blob.
 */
function isMissingObject(error: unknown): boolean {
  return statusOf(error) === 404 && codeOf(error) !== 'NoSuchBucket'
}

/** RGW answers `QuotaExceeded` (403) for a user or bucket quota; some servers `507 Insufficient Storage`. */
function isStorageFull(error: unknown): boolean {
  const code = codeOf(error)
  return code === 'QuotaExceeded' || code === 'InsufficientCapacity' || statusOf(error) === 507
}

/** No answer (refused, dropped, timed out) or a 5xx: the server is down or overloaded, not refusing this request. */
function isUnavailable(error: unknown): boolean {
  const status = statusOf(error)
  if (status !== undefined) return status >= 500 && status !== 501 && status !== 507
  const fields = fieldsOf(error)
  return isNetworkError(fields.code) || fields.name === 'TimeoutError'
}

/** One line for a message: `NoSuchBucket (HTTP 404)`, or a network error's own message. */
function describeError(error: unknown): string {
  const fields = fieldsOf(error)
  const status = statusOf(error)
  if (status === undefined) {
    // Node's AggregateError (every address refused) has an empty message.
    const message = fields.message || fields.name || String(error)
    return fields.code && !message.includes(fields.code) ? `${fields.code}: ${message}` : message
  }
  const code = codeOf(error) ?? 'Error'
  // RGW sends no <Message>, which the SDK renders as "UnknownError".
  const detail = fields.message && fields.message !== 'UnknownError' && fields.message !== code ? `: ${fields.message}` : ''
  return `${code} (HTTP ${status})${detail}`
}

/** The endpoint as safe to print: no userinfo, no query. */
function describeEndpoint(options: S3BlobStoreOptions): string {
  if (options.endpoint === undefined) return `AWS S3 (${options.region})`
  try {
    const url = new URL(options.endpoint)
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`
  } catch {
    return options.endpoint
  }
}

function assertValidRange(range: ByteRange): void {
  const { start, end } = range
  // S3 (per RFC 9110) ignores a malformed Range and sends the whole object: refuse it here.
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`Invalid byte range ${start}-${end}: need integers with 0 <= start <= end`)
  }
}

function requireField<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`S3 response lacked ${what}`)
  return value
}

/**
 * Blobs as objects in one S3 bucket (AWS S3, Tencent COS, Ceph RGW, MinIO). Uploads stream
 * through lib-storage in 5 MiB parts, so memory stays flat whatever the blob size, and an
 * object appears only when its upload completes: a failed `put` leaves nothing behind.
 */
export class S3BlobStore implements BlobStore {
  readonly capabilities: ReadonlySet<BlobCapability> = new Set(['range', 'presign', 'multipart'])

  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /** Connects, checks the credentials and creates the bucket when missing. Rejects with a message naming endpoint and bucket. */
  static async create(options: S3BlobStoreOptions): Promise<S3BlobStore> {
    const client = new S3Client({
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      // The SDK's default sends stream bodies aws-chunked with a trailing CRC32, which Ceph RGW
      // refuses (411 MissingContentLength); checksums only where an operation requires one.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // socketTimeout is the inactivity limit (requestTimeout, a limit on the whole request, only warns).
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS },
    })
    try {
      await ensureBucket(client, options)
    } catch (error) {
      client.destroy()
      throw error
    }
    return new S3BlobStore(client, options.bucket)
  }

  /**
   * Streams `body` up, at most one 5 MiB part in memory. If `body` errors or is destroyed,
   * rejects with the body's own error (so a caller's size-limit error keeps its meaning),
   * aborts the multipart upload, and leaves any previous object under `key` untouched.
   */
  async put(key: string, body: Readable, options: PutOptions = {}): Promise<BlobInfo> {
    assertSafeKey(key)
    // An upload may complete as soon as it starts, so nothing here publishes later than this.
    try {
      await options.beforePublish?.()
      options.signal?.throwIfAborted()
    } catch (error) {
      // The sender must not wait on a body nobody will read.
      body.destroy()
      throw error
    }
    let sizeBytes = 0
    let bodyFailure: { error: unknown } | undefined
    async function* counted(): AsyncGenerator<Buffer> {
      let yielding = false
      try {
        for await (const chunk of body as AsyncIterable<Buffer | string>) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
          sizeBytes += bytes.length
          yielding = true
          yield bytes
          yielding = false
        }
      } catch (error) {
        // The body's errors and premature closes land here; so does the AbortError that
        // Readable.from throws in at `yield` when lib-storage stops reading after an S3 error.
        if (!yielding) bodyFailure = { error }
        throw error
      }
    }
    // Aborting stops the part or object in flight and the multipart upload (lib-storage aborts it).
    const aborter = new AbortController()
    const abort = () => aborter.abort(options.signal?.reason)
    options.signal?.addEventListener('abort', abort, { once: true })
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: Readable.from(counted(), { objectMode: false }),
        ...(options.contentType === undefined ? {} : { ContentType: options.contentType }),
      },
      partSize: PART_BYTES,
      queueSize: UPLOAD_QUEUE_SIZE,
      leavePartsOnError: false,
      abortController: aborter,
    })
    try {
      // Its result's ETag is not used: Ceph answers CompleteMultipartUpload with an empty one.
      await upload.done()
    } catch (error) {
      // Release the sender if S3 failed first; a no-op when the body already ended or failed.
      body.destroy()
      if (options.signal?.aborted) throw options.signal.reason
      if (bodyFailure) throw bodyFailure.error
      throw this.translate('put', `blob "${key}"`, error)
    } finally {
      options.signal?.removeEventListener('abort', abort)
    }
    // The server's Last-Modified would cost a HEAD per upload, and could be a concurrent put's.
    return { key, sizeBytes, modifiedAt: new Date() }
  }

  /**
   * The object's bytes as a stream holding one pooled connection: consume or destroy it.
   * A `range` the server does not honour rejects rather than returning the whole object.
   */
  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    assertSafeKey(key)
    const { range } = options
    if (range) assertValidRange(range)
    let response
    try {
      response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      )
    } catch (error) {
      if (isMissingObject(error)) throw new BlobNotFoundError(key)
      throw this.translate('get', `blob "${key}"`, error)
    }
    const body = response.Body
    if (!(body instanceof Readable)) throw new Error(`S3 get of blob "${key}" returned no readable body`)
    if (range && response.$metadata.httpStatusCode !== 206) {
      body.destroy()
      throw new Error(`S3 get of blob "${key}" ignored the range ${range.start}-${range.end} (HTTP ${response.$metadata.httpStatusCode})`)
    }
    return body
  }

  async readBuffer(key: string, range: ByteRange): Promise<Buffer> {
    const body = await this.get(key, { range })
    // One buffer of the range's size, filled as chunks arrive: never the chunks and their copy at once.
    const bytes = Buffer.allocUnsafe(range.end - range.start + 1)
    let length = 0
    let overran = false
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (length + chunk.length > bytes.length) {
          overran = true
          break
        }
        length += chunk.copy(bytes, length)
      }
    } catch (error) {
      // The connection broke mid-body.
      throw this.translate('get', `blob "${key}"`, error)
    }
    if (overran) throw new Error(`S3 get of blob "${key}" returned more than the range ${range.start}-${range.end}`)
    if (length < bytes.length) throw new Error(`Blob ${key} ends before byte ${range.end}`)
    return bytes
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    assertSafeKey(key)
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      return {
        key,
        sizeBytes: requireField(response.ContentLength, 'Content-Length'),
        modifiedAt: requireField(response.LastModified, 'Last-Modified'),
      }
    } catch (error) {
      if (isMissingObject(error)) return undefined
      throw this.translate('head', `blob "${key}"`, error)
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key)
    try {
      // S3 answers 204 for a missing key, so this is idempotent as it stands.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))
    } catch (error) {
      throw this.translate('delete', `blob "${key}"`, error)
    }
  }

  /** Every object whose key starts with `prefix`, in key order, one ListObjectsV2 page (≤1000) at a time. */
  async *list(prefix: string): AsyncIterable<BlobInfo> {
    let continuationToken: string | undefined
    do {
      let page
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            ...(prefix === '' ? {} : { Prefix: prefix }),
            ...(continuationToken === undefined ? {} : { ContinuationToken: continuationToken }),
          }),
        )
      } catch (error) {
        throw this.translate('list', `prefix "${prefix}"`, error)
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue
        yield {
          key: object.Key,
          sizeBytes: requireField(object.Size, `the size of "${object.Key}"`),
          modifiedAt: requireField(object.LastModified, `the date of "${object.Key}"`),
        }
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined
      if (page.IsTruncated && continuationToken === undefined) {
        throw new Error(`S3 list of "${prefix}*" in bucket "${this.bucket}": truncated page without a continuation token`)
      }
    } while (continuationToken !== undefined)
  }

  /**
   * A GET URL signed locally (no request is made, and a missing key is only found out by
   * whoever fetches it). The response headers are part of the signature, so they cannot be
   * changed by the holder. The URL is a bearer credential: never log it.
   */
  async presignGet(key: string, options: PresignOptions): Promise<string> {
    assertSafeKey(key)
    const { expiresInSeconds } = options
    if (!Number.isSafeInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > MAX_PRESIGN_SECONDS) {
      throw new RangeError(`expiresInSeconds must be an integer from 1 to ${MAX_PRESIGN_SECONDS}, got ${expiresInSeconds}`)
    }
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ...(options.contentDisposition === undefined ? {} : { ResponseContentDisposition: options.contentDisposition }),
      ...(options.contentType === undefined ? {} : { ResponseContentType: options.contentType }),
    })
    return getSignedUrl(this.client, command, { expiresIn: expiresInSeconds })
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) })
    } catch (error) {
      throw this.translate('check', 'the bucket', error)
    }
  }

  async availableBytes(): Promise<undefined> {
    return undefined
  }

  /**
   * Aborts multipart uploads started more than `olderThanMs` ago: the parts a crashed or
   * killed process left behind (a failed `put` aborts its own). Returns how many.
   */
  async removeAbandonedWrites(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs
    let aborted = 0
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    do {
      let page
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
          }),
        )
      } catch (error) {
        throw this.translate('list', 'multipart uploads', error)
      }
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue
        if (upload.Initiated !== undefined && upload.Initiated.getTime() > cutoff) continue
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }))
          aborted += 1
        } catch (error) {
          // Completed or aborted by its owner in the meantime.
          if (codeOf(error) !== 'NoSuchUpload') throw this.translate('abort', `the multipart upload of "${upload.Key}"`, error)
        }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined
    } while (keyMarker !== undefined)
    return aborted
  }

  /** Multipart uploads started more than `olderThanMs` ago and never completed. */
  async *listAbandonedWrites(olderThanMs: number): AsyncIterable<AbandonedWrite> {
    const cutoff = Date.now() - olderThanMs
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    do {
      let page
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(uploadIdMarker === undefined ? {} : { UploadIdMarker: uploadIdMarker }),
          }),
        )
      } catch (error) {
        throw this.translate('list', 'multipart uploads', error)
      }
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.Initiated === undefined || upload.Initiated.getTime() > cutoff) continue
        yield { name: `multipart:${upload.Key}`, startedAt: upload.Initiated }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined
    } while (keyMarker !== undefined)
  }

  async close(): Promise<void> {
    this.client.destroy()
  }

  /** Vendor errors become Cabinet's: storage full, or an Error naming the operation and its subject. */
  private translate(operation: string, subject: string, error: unknown): Error {
    if (isStorageFull(error)) return new BlobStorageFullError(error)
    const message = `S3 ${operation} of ${subject} in bucket "${this.bucket}" failed: ${describeError(error)}`
    return isUnavailable(error) ? new BlobStoreUnavailableError(message, error) : new Error(message, { cause: error })
  }
}

/** HeadBucket, then CreateBucket when it is missing; a concurrent creator's bucket is ours too. */
async function ensureBucket(client: S3Client, options: S3BlobStoreOptions): Promise<void> {
  const { bucket } = options
  const headBucket = () => withDeadline(options, (abortSignal) => client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal }))
  try {
    await headBucket()
    return
  } catch (error) {
    if (statusOf(error) !== 404) throw await startupError(client, options, 'checking', error)
  }
  const input: CreateBucketCommandInput = { Bucket: bucket }
  // Only AWS wants the region restated; other servers name their own (RGW: its zonegroup) and may refuse ours.
  if (options.endpoint === undefined && options.region !== 'us-east-1') {
    input.CreateBucketConfiguration = { LocationConstraint: options.region as BucketLocationConstraint }
  }
  try {
    await withDeadline(options, (abortSignal) => client.send(new CreateBucketCommand(input), { abortSignal }))
  } catch (error) {
    const code = codeOf(error)
    if (code === 'BucketAlreadyOwnedByYou') return
    if (code !== 'BucketAlreadyExists') throw await startupError(client, options, 'creating', error)
    // A concurrent creator, or another account's bucket of the same name: can we use it?
    await headBucket().catch(async (headError: unknown) => {
      throw await startupError(client, options, 'checking', headError)
    })
  }
}

/** `create` gave up waiting: the server accepted the connection but never answered. */
class StartupTimeoutError extends Error {}

/** Runs one of `create`'s requests with a deadline. */
async function withDeadline<T>(options: S3BlobStoreOptions, request: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  const abortSignal = AbortSignal.timeout(STARTUP_TIMEOUT_MS)
  try {
    return await request(abortSignal)
  } catch (error) {
    if (!abortSignal.aborted) throw error
    throw new StartupTimeoutError(
      `S3 at ${describeEndpoint(options)} did not answer within ${STARTUP_TIMEOUT_MS / 1000} s (bucket "${options.bucket}")`,
      { cause: error },
    )
  }
}

const REFUSED_CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'AuthorizationHeaderMalformed'])

async function startupError(client: S3Client, options: S3BlobStoreOptions, step: 'checking' | 'creating', error: unknown): Promise<Error> {
  if (error instanceof StartupTimeoutError) return error
  const where = `S3 at ${describeEndpoint(options)}`
  const bucket = `bucket "${options.bucket}"`
  const status = statusOf(error)
  if (status === undefined) return new Error(`Cannot reach ${where} (${bucket}): ${describeError(error)}`, { cause: error })
  let code = codeOf(error)
  if (status === 403 && step === 'checking') {
    // HEAD's 403 has no body to say why; a GET needing the same permission does.
    code = await withDeadline(options, (abortSignal) =>
      client.send(new ListObjectsV2Command({ Bucket: options.bucket, MaxKeys: 1 }), { abortSignal }),
    ).then(
      () => code,
      (listError: unknown) => codeOf(listError),
    )
  }
  if (code !== undefined && REFUSED_CREDENTIALS.has(code)) {
    return new Error(`${where} refused the credentials (${code}) for ${bucket}: check the access key ID and secret`, { cause: error })
  }
  if (status === 403) {
    return new Error(`${where} denied access to ${bucket} (${code ?? 'HTTP 403'}): it may belong to another account, or the key may lack permission`, {
      cause: error,
    })
  }
  return new Error(`${where} failed ${step} ${bucket}: ${describeError(error)}`, { cause: error })
}
