import { timingSafeEqual } from 'node:crypto'
import { ERRORS } from '../../../errors.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses } from '../../schemas.js'

function sameSecret(presented: string, expected: string): boolean {
  const a = Buffer.from(presented)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** GET /metrics in Prometheus' text format: open, or behind CABINET_METRICS_TOKEN when set. */
export default function metricsRoute(app: App, deps: RouteDeps): void {
  const token = deps.config.metricsToken
  app.get(
    '/metrics',
    {
      onRequest: async (request) => {
        if (token === undefined) return
        const presented = /^Bearer +(\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
        if (presented === undefined || !sameSecret(presented, token)) throw ERRORS.unauthorized('GET /metrics needs Authorization: Bearer <CABINET_METRICS_TOKEN>')
      },
      schema: {
        summary: 'Prometheus metrics: requests and latency by route and status, bytes in and out, upload failures by code, job runs',
        tags: ['operations'],
        security: token === undefined ? [] : bearerSecurity,
        response: {
          200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errorResponses(401),
        },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await deps.metrics.render()
      return reply.type(contentType).send(body)
    },
  )
}
