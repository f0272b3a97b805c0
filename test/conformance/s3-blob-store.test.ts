import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { Readable } from 'node:stream'
import {
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  AbortMultipartUploadCommand,
  S3Client,
  type MultipartUpload,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlobNotFoundError, BlobStoreUnavailableError } from '../../src/blob/blob-store.js'
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/blob/s3-blob-store.js'
import { freshS3Bucket, type S3TestSettings } from '../helpers/backends.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'
import { bodyOf, describeBlobStore, failingBody, readAll } from './blob-store.js'

const MiB = 1024 * 1024

function storeOptions(settings: S3TestSettings & { bucket: string }): S3BlobStoreOptions {
  return { ...settings, forcePathStyle: true }
}

/** A plain client for looking behind the store's back and for cleaning up. */
function adminClient(settings: S3TestSettings): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: true,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

async function pendingUploads(admin: S3Client, bucket: string): Promise<MultipartUpload[]> {
  return (await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []
}

async function bucketExists(admin: S3Client, bucket: string): Promise<boolean> {
  return admin.send(new HeadBucketCommand({ Bucket: bucket })).then(
    () => true,
    (error: unknown) => {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false
      throw error
    },
  )
}

/** Aborts pending uploads, deletes every object, then the bucket; a bucket already gone is fine. */
async function dropBucket(admin: S3Client, bucket: string): Promise<void> {
  if (!(await bucketExists(admin, bucket))) return
  for (const upload of await pendingUploads(admin, bucket)) {
    await admin.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))
  }
  let token: string | undefined
  do {
    const page = await admin.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }))
    const objects = (page.Contents ?? []).map((object) => ({ Key: object.Key! }))
    if (objects.length > 0) await admin.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }))
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  await admin.send(new DeleteBucketCommand({ Bucket: bucket }))
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

describeBlobStore('S3BlobStore (Ceph RGW)', async () => {
  const settings = freshS3Bucket()
  const store = await S3BlobStore.create(storeOptions(settings))
  return {
    store,
    async cleanup() {
      const admin = adminClient(settings)
      try {
        await dropBucket(admin, settings.bucket)
      } finally {
        admin.destroy()
      }
    },
  }
})

describe('S3BlobStore on Ceph RGW', () => {
  let settings: S3TestSettings & { bucket: string }
  let admin: S3Client
  let store: S3BlobStore

  beforeEach(async () => {
    settings = freshS3Bucket()
    admin = adminClient(settings)
    store = await S3BlobStore.create(storeOptions(settings))
  })

  afterEach(async () => {
    await store.close()
    await dropBucket(admin, settings.bucket)
    admin.destroy()
  })

  describe('create', () => {
    it('creates the bucket when it is missing', async () => {
      const other = freshS3Bucket()
      expect(await bucketExists(admin, other.bucket)).toBe(false)
      const created = await S3BlobStore.create(storeOptions(other))
      try {
        expect(await bucketExists(admin, other.bucket)).toBe(true)
      } finally {
        await created.close()
        await dropBucket(admin, other.bucket)
      }
    })

    it('opens an existing bucket and keeps its blobs', async () => {
      await store.put('kept/blob', bodyOf(Buffer.from('still here')))
      const reopened = await S3BlobStore.create(storeOptions(settings))
      try {
        expect((await readAll(await reopened.get('kept/blob'))).toString()).toBe('still here')
      } finally {
        await reopened.close()
      }
    })

    it('several instances starting at once on a missing bucket all succeed', async () => {
      const other = freshS3Bucket()
      const stores = await Promise.all(Array.from({ length: 4 }, () => S3BlobStore.create(storeOptions(other))))
      try {
        await stores[0]!.put('shared/blob', bodyOf(Buffer.from('one bucket')))
        expect((await stores[3]!.head('shared/blob'))?.sizeBytes).toBe(10)
      } finally {
        await Promise.all(stores.map((s) => s.close()))
        await dropBucket(admin, other.bucket)
      }
    })

    it.each([
      ['a wrong secret', { secretAccessKey: 'x'.repeat(40) }, 'SignatureDoesNotMatch'],
      ['an unknown access key ID', { accessKeyId: 'CABNOSUCHKEY000000000' }, 'InvalidAccessKeyId'],
    ])('rejects %s with a message naming endpoint, bucket and the refusal', async (_label, override, code) => {
      const other = freshS3Bucket()
      const error = await S3BlobStore.create({ ...storeOptions(other), ...override }).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(error).toBeInstanceOf(Error)
      expect(error?.message).toContain(settings.endpoint)
      expect(error?.message).toContain(`"${other.bucket}"`)
      expect(error?.message).toContain(`refused the credentials (${code})`)
      expect(error?.message).not.toContain(settings.secretAccessKey)
      expect(error?.message).not.toContain('xxxxxxxx')
      expect(await bucketExists(admin, other.bucket)).toBe(false)
    })

    it('rejects an unreachable endpoint with a message naming it and the bucket', async () => {
      const endpoint = `http://127.0.0.1:${await closedPort()}`
      const error = await S3BlobStore.create({ ...storeOptions(settings), endpoint }).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(error?.message).toMatch(/^Cannot reach S3 at /)
      expect(error?.message).toContain(endpoint)
      expect(error?.message).toContain(`"${settings.bucket}"`)
      expect(error?.message).toContain('ECONNREFUSED')
    })
  })

  describe('presignGet', () => {
    const bytes = Buffer.from('%PDF-1.4 quarterly numbers\n')
    const disposition = `attachment; filename="report.pdf"; filename*=UTF-8''%E5%AD%A3%E5%BA%A6%E6%8A%A5%E5%91%8A.pdf`

    beforeEach(async () => {
      await store.put('docs/report', bodyOf(bytes), { contentType: 'application/octet-stream' })
    })

    it('gives a URL that plain fetch() downloads with the asked-for headers', async () => {
      const url = await store.presignGet('docs/report', { expiresInSeconds: 120, contentDisposition: disposition, contentType: 'application/pdf' })
      expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('120')
      const response = await fetch(url)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-disposition')).toBe(disposition)
      expect(response.headers.get('content-type')).toBe('application/pdf')
      expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes)
    })

    it.each([
      ['its signature', (url: URL) => url.searchParams.set('X-Amz-Signature', flipLastHexDigit(url.searchParams.get('X-Amz-Signature')!))],
      ['its Content-Disposition', (url: URL) => url.searchParams.set('response-content-disposition', 'inline; filename="evil.html"')],
      ['its Content-Type', (url: URL) => url.searchParams.set('response-content-type', 'text/html')],
      ['its expiry', (url: URL) => url.searchParams.set('X-Amz-Expires', '604800')],
      ['its key', (url: URL) => void (url.pathname = url.pathname.replace('docs/report', 'docs/other'))],
    ])('is refused (403) once %s is altered', async (_label, alter) => {
      await store.put('docs/other', bodyOf(Buffer.from('another blob')))
      const url = new URL(await store.presignGet('docs/report', { expiresInSeconds: 120, contentDisposition: disposition, contentType: 'application/pdf' }))
      alter(url)
      const response = await fetch(url)
      await response.arrayBuffer()
      expect(response.status).toBe(403)
    })

    it('the server refuses a URL past its expiry', async () => {
      // Valid for a minute, signed 30 s ago (still good) and an hour ago (what a store URL becomes once expired).
      const statusSignedAgo = async (ms: number) => {
        const url = await getSignedUrl(admin, new GetObjectCommand({ Bucket: settings.bucket, Key: 'docs/report' }), {
          expiresIn: 60,
          signingDate: new Date(Date.now() - ms),
        })
        const response = await fetch(url)
        await response.arrayBuffer()
        return response.status
      }
      expect(await statusSignedAgo(30_000)).toBe(200)
      expect(await statusSignedAgo(60 * 60_000)).toBe(403)
    })

    it('refuses an unsafe key and an out-of-range expiry without signing', async () => {
      await expect(store.presignGet('../etc/passwd', { expiresInSeconds: 60 })).rejects.toThrow(/Unsafe blob key/)
      for (const expiresInSeconds of [0, -1, 1.5, 7 * 24 * 3600 + 1]) {
        await expect(store.presignGet('docs/report', { expiresInSeconds })).rejects.toBeInstanceOf(RangeError)
      }
    })
  })

  describe('multipart uploads', () => {
    const totalBytes = 12 * MiB
    let bytes: Buffer

    beforeEach(() => {
      bytes = randomBytes(totalBytes)
    })

    it('a 12 MiB streamed put round-trips, in 3 parts, with the same SHA-256 and its content type', async () => {
      const info = await store.put('big/twelve', bodyOf(bytes, 64 * 1024), { contentType: 'video/mp4' })
      expect(info.sizeBytes).toBe(totalBytes)
      const head = await admin.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: 'big/twelve' }))
      expect(head.ETag).toMatch(/-3"$/) // S3's multipart ETag ends in the part count
      expect(head.ContentType).toBe('video/mp4')
      expect(sha256(await readAll(await store.get('big/twelve')))).toBe(sha256(bytes))
      expect((await store.head('big/twelve'))?.sizeBytes).toBe(totalBytes)
    })

    it.each([
      ['across the first part boundary', 5 * MiB - 100, 5 * MiB + 99],
      ['across the second part boundary', 10 * MiB - 1, 10 * MiB],
      ['the tail of the last part', 12 * MiB - 10, 12 * MiB - 1],
    ])('a ranged get %s returns exactly those bytes', async (_label, start, end) => {
      await store.put('big/ranged', bodyOf(bytes, 64 * 1024))
      const slice = await readAll(await store.get('big/ranged', { range: { start, end } }))
      expect(slice.length).toBe(end - start + 1)
      expect(slice.equals(bytes.subarray(start, end + 1))).toBe(true)
    })

    it('a body that errors after two parts rejects with its own error and leaves no object and no pending upload', async () => {
      const clientGone = new Error('client went away')
      await expect(store.put('big/errored', failingBody(11 * MiB, clientGone))).rejects.toBe(clientGone)
      expect(await store.head('big/errored')).toBeUndefined()
      expect(await pendingUploads(admin, settings.bucket)).toEqual([])
      const listing = await admin.send(new ListObjectsV2Command({ Bucket: settings.bucket }))
      expect(listing.KeyCount).toBe(0)
    })

    it('a body destroyed midway (an aborted request) leaves no object and no pending upload', async () => {
      await expect(store.put('big/aborted', failingBody(7 * MiB))).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' })
      expect(await store.head('big/aborted')).toBeUndefined()
      expect(await pendingUploads(admin, settings.bucket)).toEqual([])
    })

    it('a failed multipart overwrite keeps the previous content', async () => {
      await store.put('big/keep', bodyOf(bytes, 64 * 1024))
      await expect(store.put('big/keep', failingBody(8 * MiB, new Error('client went away')))).rejects.toThrow('client went away')
      expect(sha256(await readAll(await store.get('big/keep')))).toBe(sha256(bytes))
      expect(await pendingUploads(admin, settings.bucket)).toEqual([])
    })
  })

  describe('removeAbandonedWrites', () => {
    it('aborts multipart uploads older than the limit and keeps newer ones and blobs', async () => {
      await store.put('kept/blob', bodyOf(Buffer.from('kept')))
      const started = await admin.send(new CreateMultipartUploadCommand({ Bucket: settings.bucket, Key: 'crashed/upload' }))
      expect(await store.removeAbandonedWrites(60 * 60_000)).toBe(0)
      expect((await pendingUploads(admin, settings.bucket)).map((u) => u.UploadId)).toEqual([started.UploadId])
      expect(await store.removeAbandonedWrites(0)).toBe(1)
      expect(await pendingUploads(admin, settings.bucket)).toEqual([])
      expect((await store.head('kept/blob'))?.sizeBytes).toBe(4)
    })
  })

  describe('translating the backend', () => {
    it('stores the content type given to put', async () => {
      await store.put('typed/blob', bodyOf(Buffer.from('{}')), { contentType: 'application/json' })
      const head = await admin.send(new HeadObjectCommand({ Bucket: settings.bucket, Key: 'typed/blob' }))
      expect(head.ContentType).toBe('application/json')
    })

    it('lists past the 1000-key page', async () => {
      const keys = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, '0')}`)
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((key) => store.put(key, bodyOf(Buffer.from('x')))))
      }
      const listed: string[] = []
      for await (const info of store.list('many/')) listed.push(info.key)
      expect(listed).toEqual(keys)
    }, 60_000)

    it('reports storage it cannot reach, or that breaks off a read, as unavailable', async () => {
      const proxy = await startTcpProxy(settings.endpoint)
      const proxied = await S3BlobStore.create({ ...storeOptions(settings), endpoint: proxy.url })
      try {
        const bytes = randomBytes(MiB)
        await proxied.put('outage/blob', bodyOf(bytes))
        proxy.cutResponsesAfter(64 * 1024)
        await expect(proxied.readBuffer('outage/blob', { start: 0, end: bytes.length - 1 })).rejects.toBeInstanceOf(BlobStoreUnavailableError)
        await proxy.cut()
        await expect(proxied.get('outage/blob')).rejects.toBeInstanceOf(BlobStoreUnavailableError)
        await expect(proxied.put('outage/other', bodyOf(bytes))).rejects.toBeInstanceOf(BlobStoreUnavailableError)
        await expect(proxied.ping()).rejects.toBeInstanceOf(BlobStoreUnavailableError)
        // A refusal by a server that answers is not an outage.
        await expect(store.get('outage/blob', { range: { start: 2 * MiB, end: 3 * MiB } })).rejects.not.toBeInstanceOf(BlobStoreUnavailableError)
      } finally {
        await proxied.close()
        await proxy.close()
      }
    })

    it('refuses an invalid range before asking the server (which might send the whole blob)', async () => {
      await store.put('range/blob', bodyOf(Buffer.from('0123456789')))
      for (const range of [
        { start: 5, end: 3 },
        { start: -1, end: 3 },
        { start: 0.5, end: 3 },
        { start: 0, end: Number.POSITIVE_INFINITY },
      ]) {
        await expect(store.get('range/blob', { range })).rejects.toBeInstanceOf(RangeError)
      }
    })

    it('a missing bucket is an error naming the operation and key, not a missing blob', async () => {
      await dropBucket(admin, settings.bucket)
      const getError = await store.get('gone/blob').then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(getError).not.toBeInstanceOf(BlobNotFoundError)
      expect(getError?.message).toMatch(/^S3 get of blob "gone\/blob" in bucket ".+" failed: NoSuchBucket \(HTTP 404\)$/)
      expect(getError?.cause).toMatchObject({ name: 'NoSuchBucket' })

      const body = bodyOf(Buffer.alloc(100_000, 1))
      const putError = await store.put('gone/blob', body).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(putError?.message).toMatch(/^S3 put of blob "gone\/blob" .* NoSuchBucket \(HTTP 404\)$/)
      expect(body.destroyed).toBe(true)

      await expect(store.delete('gone/blob')).rejects.toThrow(/^S3 delete of blob "gone\/blob"/)
      const listing = (async () => {
        for await (const info of store.list('')) return info
      })()
      await expect(listing).rejects.toThrow(/^S3 list of prefix "" in bucket ".+" failed: NoSuchBucket/)
    })

    it('an S3 failure midway through a multipart put rejects, releases the body and leaves no pending upload', async () => {
      let produced = 0
      const chunk = Buffer.alloc(256 * 1024, 3)
      const body = new Readable({
        read() {
          produced += chunk.length
          if (produced !== 7 * MiB) return void this.push(chunk)
          // Part 1 is stored; abort the upload behind the store's back so part 2 fails.
          void pendingUploads(admin, settings.bucket)
            .then(([upload]) => admin.send(new AbortMultipartUploadCommand({ Bucket: settings.bucket, Key: upload!.Key, UploadId: upload!.UploadId })))
            .then(() => this.push(chunk), (error: unknown) => this.destroy(error as Error))
        },
      })
      // An endless body: only the S3 failure can end this put.
      const error = await store.put('gone/endless', body).then(
        () => undefined,
        (e: unknown) => e as Error,
      )
      expect(error?.message).toMatch(/^S3 put of blob "gone\/endless" in bucket ".+" failed: NoSuchUpload \(HTTP 404\)$/)
      expect(body.destroyed).toBe(true)
      expect(await store.head('gone/endless')).toBeUndefined()
      expect(await pendingUploads(admin, settings.bucket)).toEqual([])
    })
  })
})

function flipLastHexDigit(hex: string): string {
  const last = hex.at(-1)
  return hex.slice(0, -1) + (last === '0' ? '1' : '0')
}
