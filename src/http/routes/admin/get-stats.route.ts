import { requireAdmin } from '../../authenticate.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, StatsSchema, toStatsJson } from '../../schemas.js'

export default function getStatsRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/admin/stats',
    {
      onRequest: requireAdmin(deps.authenticate),
      schema: {
        summary: 'Files and bytes by type and user, disk, largest files, traffic per day, last clean-up and backup (admin token)',
        tags: ['admin'],
        security: bearerSecurity,
        response: { 200: StatsSchema, ...errorResponses(401, 403) },
      },
    },
    async () => toStatsJson(await deps.stats.collect()),
  )
}
