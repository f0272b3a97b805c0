import pino, { type DestinationStream, type Logger } from 'pino'
import type { Config } from './config.js'

/** Structured JSON logs on stdout; credentials are redacted wherever they appear. */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'token',
        'secret',
        '*.token',
        '*.secret',
        'session_key',
        '*.session_key',
        // The agent's token gives operator access to its gateway.
        'agentToken',
        '*.agentToken',
        'agent.token',
        '*.agent.token',
      ],
      censor: '[redacted]',
    },
  }
  return destination ? pino(options, destination) : pino(options)
}
