import pino, { type Logger } from 'pino'
import type { Config } from './config.js'

/** Structured JSON logs on stdout; credentials are redacted wherever they appear. */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'token', 'secret', '*.token', '*.secret', 'session_key', '*.session_key'],
      censor: '[redacted]',
    },
  })
}
