import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { loadConfig, type Config } from '../../src/config.js'
import { startServer, type RunningServer } from '../../src/main.js'

export interface TestServer {
  readonly url: string
  readonly dataDir: string
  readonly config: Config
  readonly server: RunningServer
  /** A fresh bearer token for `userId`. */
  token(userId: string, ttlMs?: number): Promise<string>
  /** Rows in the files table, any status. */
  fileRows(): Promise<Array<{ id: string; user_id: string; status: string }>>
  /** Paths of every file under blobs/ and tmp/, relative to the data dir. */
  storedPaths(): Promise<string[]>
  stop(): Promise<void>
}

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'cabinet-test-'))
}

/** Cabinet's real server on a real port (0: the OS picks), over a fresh data dir. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = env.CABINET_DATA_DIR ?? (await makeDataDir())
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', CABINET_DATA_DIR: dataDir, CABINET_MIN_FREE_BYTES: '0', ...env })
  const server = await startServer(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }))
  return {
    url: server.address,
    dataDir,
    config,
    server,
    async token(userId, ttlMs) {
      return (await server.services.tokens.issue(userId, ttlMs === undefined ? {} : { ttlMs })).token
    },
    async fileRows() {
      const db = (server.services.metadata as unknown as { db: import('kysely').Kysely<import('../../src/db/database.js').Database> }).db
      return db.selectFrom('files').select(['id', 'user_id', 'status']).execute()
    },
    storedPaths: () => listFiles(dataDir, ['blobs', 'tmp']),
    async stop() {
      await server.stop()
      if (env.CABINET_DATA_DIR === undefined) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

export async function listFiles(root: string, folders: string[]): Promise<string[]> {
  const found: string[] = []
  for (const folder of folders) {
    const entries = await readdir(join(root, folder), { recursive: true, withFileTypes: true }).catch(() => [])
    for (const entry of entries) if (entry.isFile()) found.push(join(entry.parentPath, entry.name).slice(root.length + 1))
  }
  return found.sort()
}
