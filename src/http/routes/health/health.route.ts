import { Type } from '@sinclair/typebox'
import { ERRORS } from '../../../errors.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { errorResponses } from '../../schemas.js'

const Status = Type.Object({ status: Type.String() })

/** GET /healthz (the process answers) and GET /readyz (it can do its work), for load balancers and systemd. */
export default function healthRoutes(app: App, deps: RouteDeps): void {
  app.get(
    '/healthz',
    { schema: { summary: 'Liveness: the process answers', tags: ['operations'], response: { 200: Status, ...errorResponses(503) } } },
    async () => ({ status: 'ok' }),
  )
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the database answers, the data dir is writable, the disk is above CABINET_MIN_FREE_BYTES',
        tags: ['operations'],
        response: { 200: Status, ...errorResponses(503) },
      },
    },
    async () => {
      const problems = await deps.readiness.problems()
      if (problems.length > 0) throw ERRORS.notReady(problems)
      return { status: 'ready' }
    },
  )
}
