import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'

/**
 * @fastify/helmet's headers on every answer, tuned for an API behind nginx: a strict CSP that
 * still lets the same-origin /docs page run, no upgrade-insecure-requests (TLS ends at nginx), and
 * `Cross-Origin-Resource-Policy: cross-origin` so signed download links work in `<image src>`
 * wherever they are embedded. CORS stays off unless origins are configured (Mini Programs need none).
 */
export async function installSecurityHeaders(app: FastifyInstance, options: { corsOrigins: readonly string[] | undefined }): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: true,
      directives: { 'upgrade-insecure-requests': null, 'frame-ancestors': ["'none'"] },
    },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  })
  if (options.corsOrigins) {
    // Loaded only when configured.
    const { default: cors } = await import('@fastify/cors')
    await app.register(cors, {
      origin: [...options.corsOrigins],
      methods: ['GET', 'HEAD', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Range', 'If-None-Match', 'If-Modified-Since', 'If-Range'],
      exposedHeaders: ['Content-Disposition', 'Content-Range', 'ETag', 'Retry-After'],
      maxAge: 600,
    })
  }
}
