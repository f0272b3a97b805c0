import { Type } from '@sinclair/typebox'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams, FileSchema, toFileJson } from '../../schemas.js'

const UpdateBody = Type.Object(
  { pinned: Type.Boolean({ description: 'true: the file never expires; false: the retention applies again' }) },
  { additionalProperties: false },
)

export default function updateFileRoute(app: App, deps: RouteDeps): void {
  app.patch(
    '/api/files/:id',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'Pin a file so that retention clean-up never removes it, or unpin it',
        tags: ['files'],
        security: bearerSecurity,
        params: FileIdParams,
        body: UpdateBody,
        response: { 200: FileSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => toFileJson(await deps.files.setPinned(request.params.id, request.caller.userId, request.body.pinned)),
  )
}
