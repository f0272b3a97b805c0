import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { ERRORS } from '../../../errors.js'
import { continueBody } from '../../expect-continue.js'
import { readMultipartFile } from '../../multipart-file.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileSchema, toFileJson } from '../../schemas.js'

/** Room for the multipart boundary, part headers and small form fields around the file itself. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024

export const UploadBodyDoc = Type.Object({
  file: Type.String({ format: 'binary', description: 'The file; its name\'s extension must be an allowed type and match its content' }),
})

function declaredLength(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length']
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined
}

export default function uploadFileRoute(app: App, deps: RouteDeps): void {
  // In a scope of its own, where a body of any other type is left unread too (Node drops it after the
  // answer), so that a non-multipart upload answers NO_FILE like a form without a file, not 415.
  void app.register(async (scope: App) => {
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined))
    uploadRoute(scope, deps)
  })
}

function uploadRoute(app: App, deps: RouteDeps): void {
  app.post(
    '/api/files/upload',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'Upload a file (multipart/form-data, field "file"), as wx.uploadFile sends it',
        tags: ['files'],
        consumes: ['multipart/form-data'],
        security: bearerSecurity,
        response: { 200: FileSchema, ...errorResponses(400, 401, 403, 408, 413, 415, 429, 507) },
      },
      config: { openapiBody: UploadBodyDoc, continuesBody: true },
    },
    async (request, reply) => {
      const declared = declaredLength(request)
      await deps.files.checkUploadAdmissible(declared, MULTIPART_OVERHEAD_BYTES, request.caller.userId)
      if (!request.headers['content-type']?.toLowerCase().startsWith('multipart/form-data')) throw ERRORS.noFile()
      // Refused by its head, an upload is answered before its body is sent; admitted, the body may come.
      continueBody(request, reply)
      const part = await readMultipartFile(request.raw, 'file', { maxFileBytes: deps.config.maxFileBytes })
      if (!part) throw ERRORS.noFile()
      const stored = await deps.access.upload(request.caller, { ip: request.ip }, { fileName: part.fileName, body: part.stream })
      return toFileJson(stored)
    },
  )
}
