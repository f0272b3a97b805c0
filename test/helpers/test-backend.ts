import { DeleteBucketCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import type { Kysely } from 'kysely'
import { KyselyMetadataStore } from '../../src/db/kysely-metadata-store.js'
import type { Database } from '../../src/db/database.js'
import { freshPostgresDatabase, freshS3Bucket } from './backends.js'
import { listFiles, makeDataDir } from './data-dir.js'

/** Which storage the integration suite runs on: set per vitest project. */
export const BACKEND = (process.env.CABINET_TEST_BACKEND ?? 'embedded') as 'embedded' | 'postgres-s3'

/** Fresh, empty storage for one Cabinet (or several sharing it), with ways to look inside. */
export interface TestBackend {
  readonly dataDir: string
  /** Environment that points Cabinet at this storage. */
  readonly env: Record<string, string>
  /** Rows in the files table, any status. */
  fileRows(): Promise<Array<{ id: string; user_id: string; status: string }>>
  /** Everything holding file bytes: blob and temp files on disk, or objects and unfinished multipart uploads in the bucket. */
  storedPaths(): Promise<string[]>
  /** Direct access to the metadata database. */
  db(): Promise<Kysely<Database>>
  cleanup(): Promise<void>
}

export async function openTestBackend(kind: typeof BACKEND = BACKEND): Promise<TestBackend> {
  const dataDir = await makeDataDir()
  let store: KyselyMetadataStore | undefined
  const openStore = async (env: Record<string, string>) =>
    (store ??= env.CABINET_DATABASE_URL
      ? await KyselyMetadataStore.openPostgres(env.CABINET_DATABASE_URL, { poolMax: 2 })
      : await KyselyMetadataStore.openSqlite(`${dataDir}/cabinet.db`))
  const common = (env: Record<string, string>) => ({
    dataDir,
    env: { CABINET_DATA_DIR: dataDir, ...env },
    async db() {
      return (await openStore(env)).db
    },
    async fileRows() {
      return (await openStore(env)).db.selectFrom('files').select(['id', 'user_id', 'status']).orderBy('id').execute()
    },
  })

  if (kind === 'embedded') {
    return {
      ...common({}),
      storedPaths: () => listFiles(dataDir, ['blobs', 'tmp']),
      async cleanup() {
        await store?.close()
        const { rm } = await import('node:fs/promises')
        await rm(dataDir, { recursive: true, force: true })
      },
    }
  }

  const database = await freshPostgresDatabase()
  const s3 = freshS3Bucket()
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
  const env = {
    CABINET_DATABASE_URL: database.url,
    CABINET_S3_ENDPOINT: s3.endpoint,
    CABINET_S3_REGION: s3.region,
    CABINET_S3_BUCKET: s3.bucket,
    CABINET_S3_ACCESS_KEY_ID: s3.accessKeyId,
    CABINET_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }
  const objectKeys = async (): Promise<string[]> => {
    const keys: string[] = []
    let token: string | undefined
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: token })).catch((error: { name?: string }) => {
        if (error.name === 'NoSuchBucket') return { Contents: [], NextContinuationToken: undefined }
        throw error
      })
      keys.push(...(page.Contents ?? []).map((object) => object.Key!))
      token = page.NextContinuationToken
    } while (token)
    return keys
  }
  return {
    ...common(env),
    async storedPaths() {
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket })).catch(() => ({ Uploads: [] }))
      return [...(await objectKeys()), ...(uploads.Uploads ?? []).map((upload) => `multipart:${upload.Key}`)].sort()
    },
    async cleanup() {
      await store?.close()
      const keys = await objectKeys()
      if (keys.length > 0) {
        await client.send(new DeleteObjectsCommand({ Bucket: s3.bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }))
      }
      await client.send(new DeleteBucketCommand({ Bucket: s3.bucket })).catch(() => {})
      client.destroy()
      await database.drop()
      const { rm } = await import('node:fs/promises')
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
