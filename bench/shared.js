// What both benches need to start a Cabinet server: a free port, and fair-use limits out of reach.
import { createServer } from 'node:net'

/**
 * One user from one address drives thousands of requests and gigabytes: the fair-use limits stay
 * on (their checks are part of what is measured) but are set far above what a run reaches.
 */
export const FAIR_USE_OUT_OF_REACH = {
  CABINET_QUOTA_MAX_BYTES: String(2 ** 50),
  CABINET_QUOTA_MAX_FILES: String(2 ** 50),
  CABINET_RATE_LIMIT_UPLOADS_PER_USER: '1000000000',
  CABINET_RATE_LIMIT_UPLOADS_PER_IP: '1000000000',
  CABINET_RATE_LIMIT_DOWNLOADS_PER_USER: '1000000000',
  CABINET_RATE_LIMIT_DOWNLOADS_PER_IP: '1000000000',
  CABINET_RATE_LIMIT_REQUESTS_PER_USER: '1000000000',
  CABINET_RATE_LIMIT_REQUESTS_PER_IP: '1000000000',
}

/** A TCP port free on loopback right now. */
export async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
  })
}
