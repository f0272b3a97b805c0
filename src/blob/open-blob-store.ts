import type { Config } from '../config.js'
import type { BlobStore } from './blob-store.js'
import { LocalBlobStore } from './local-blob-store.js'

/** The blob adapter the configuration names. Light to import: CLI commands use it without the server. */
export async function openBlobStore(config: Pick<Config, 'blobs'>): Promise<BlobStore> {
  const { blobs } = config
  if (blobs.kind === 'local') return LocalBlobStore.create({ rootDir: blobs.rootDir })
  // Loaded only when used: the AWS SDK alone adds about 30 MB to every process.
  const { S3BlobStore } = await import('./s3-blob-store.js')
  return S3BlobStore.create({
    region: blobs.region,
    bucket: blobs.bucket,
    accessKeyId: blobs.accessKeyId,
    secretAccessKey: blobs.secretAccessKey,
    forcePathStyle: blobs.forcePathStyle,
    requestTimeoutMs: blobs.requestTimeoutMs,
    ...(blobs.endpoint ? { endpoint: blobs.endpoint } : {}),
  })
}
