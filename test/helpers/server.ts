import pino, { type Logger } from 'pino'
import { loadConfig, type Config } from '../../src/config.js'
import { startServer, type RunningServer } from '../../src/main.js'
import { openTestBackend, type TestBackend } from './test-backend.js'

export { BACKEND } from './test-backend.js'
export { listFiles, makeDataDir } from './data-dir.js'

export interface TestServer {
  readonly url: string
  readonly dataDir: string
  readonly config: Config
  readonly server: RunningServer
  readonly backend: TestBackend
  /** A fresh bearer token for `userId`. */
  token(userId: string, ttlMs?: number): Promise<string>
  fileRows: TestBackend['fileRows']
  storedPaths: TestBackend['storedPaths']
  stop(): Promise<void>
}

/** Cabinet's real server on a real port (0: the OS picks), over fresh storage of the suite's backend. */
export async function startTestServer(env: Record<string, string> = {}, shared?: TestBackend, options: { logger?: Logger } = {}): Promise<TestServer> {
  const backend = shared ?? (await openTestBackend())
  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0', CABINET_MIN_FREE_BYTES: '0', ...backend.env, ...env })
  const server = await startServer(config, options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }))
  return {
    url: server.address,
    dataDir: backend.dataDir,
    config,
    server,
    backend,
    async token(userId, ttlMs) {
      return (await server.services.tokens.issue(userId, ttlMs === undefined ? {} : { ttlMs })).token
    },
    fileRows: () => backend.fileRows(),
    storedPaths: () => backend.storedPaths(),
    async stop() {
      await server.stop()
      if (!shared) await backend.cleanup()
    },
  }
}
