import { loadConfig } from '../config.js'
import { createLogger } from '../logger.js'
import { startServer } from '../main.js'

export async function serveCommand(): Promise<number> {
  const config = loadConfig(process.env)
  const logger = createLogger(config)
  const server = await startServer(config, logger)
  return new Promise<number>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down: finishing in-flight requests')
      server.stop().then(
        () => {
          logger.info('stopped')
          resolve(0)
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed')
          resolve(1)
        },
      )
    }
    process.once('SIGTERM', shutdown)
    process.once('SIGINT', shutdown)
  })
}
