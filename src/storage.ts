import { LocalBlobStore } from './blob/local-blob-store.js'
import type { BlobStore } from './blob/blob-store.js'
import type { Config } from './config.js'
import { KyselyMetadataStore } from './db/kysely-metadata-store.js'

/** The metadata adapter the configuration names; migrations run on open. */
export async function openMetadataStore(config: Pick<Config, 'database'>): Promise<KyselyMetadataStore> {
  const { database } = config
  return database.kind === 'postgres'
    ? KyselyMetadataStore.openPostgres(database.url, { poolMax: database.poolMax })
    : KyselyMetadataStore.openSqlite(database.path)
}

/** The blob adapter the configuration names. */
export async function openBlobStore(config: Pick<Config, 'blobs'>): Promise<BlobStore> {
  const { blobs } = config
  if (blobs.kind === 'local') return LocalBlobStore.create({ rootDir: blobs.rootDir })
  // Loaded only when used: the AWS SDK alone adds about 30 MB to every process.
  const { S3BlobStore } = await import('./blob/s3-blob-store.js')
  return S3BlobStore.create({
    region: blobs.region,
    bucket: blobs.bucket,
    accessKeyId: blobs.accessKeyId,
    secretAccessKey: blobs.secretAccessKey,
    forcePathStyle: blobs.forcePathStyle,
    ...(blobs.endpoint ? { endpoint: blobs.endpoint } : {}),
  })
}
