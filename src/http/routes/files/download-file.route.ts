import { Type } from '@sinclair/typebox'
import contentDisposition from 'content-disposition'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { StoredFile } from '../../../db/metadata-store.js'
import type { FileService } from '../../../domain/files/file-service.js'
import { ERRORS } from '../../../errors.js'
import { parseRangeHeader } from '../../byte-range.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams } from '../../schemas.js'

const DownloadQuery = Type.Object({
  inline: Type.Optional(Type.String({ description: '1 to display in the browser instead of saving' })),
  expires: Type.Optional(Type.String({ description: 'Signed URL expiry (from POST /api/files/{id}/url)' })),
  key: Type.Optional(Type.String({ description: 'Signed URL of an API key: the key it was issued to (signed too)' })),
  sig: Type.Optional(Type.String({ description: 'Signed URL signature' })),
})

/** A signed URL authorises by its query string instead of a header. */
function isSignedRequest(query: unknown): boolean {
  const { expires, sig } = query as { expires?: unknown; sig?: unknown }
  return expires !== undefined || sig !== undefined
}

function etagMatches(header: string, etag: string): boolean {
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '')
    return tag === '*' || tag === etag
  })
}

/** Whether the client's cached copy is current (RFC 9110 §13.1.2 and §13.1.3). */
function isNotModified(request: FastifyRequest, file: StoredFile, etag: string): boolean {
  const ifNoneMatch = request.headers['if-none-match']
  if (ifNoneMatch !== undefined) return etagMatches(ifNoneMatch, etag)
  const ifModifiedSince = Date.parse(request.headers['if-modified-since'] ?? '')
  return !Number.isNaN(ifModifiedSince) && Math.floor(file.uploadedAt.getTime() / 1000) * 1000 <= ifModifiedSince
}

/** A Range applies unless If-Range names another version of the file (RFC 9110 §13.1.5). */
function rangeStillApplies(request: FastifyRequest, file: StoredFile, etag: string): boolean {
  const ifRange = request.headers['if-range']
  if (typeof ifRange !== 'string') return true
  if (ifRange.startsWith('"') || ifRange.startsWith('W/')) return ifRange === etag
  return Date.parse(ifRange) === Math.floor(file.uploadedAt.getTime() / 1000) * 1000
}

/**
 * RFC 6266 with an ASCII `filename` and the exact name in `filename*=UTF-8''…` whenever they differ.
 * content-disposition's own fallback keeps ISO-8859-1 names (café.png) as Latin-1 bytes without
 * `filename*`, which clients that read header bytes as UTF-8 (curl -OJ, most download managers) mangle.
 */
function dispositionFor(name: string, inline: boolean): string {
  return contentDisposition(name, { type: inline ? 'inline' : 'attachment', fallback: name.replace(/[^\x20-\x7e]/gu, '?') })
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, files: FileService, file: StoredFile, inline: boolean) {
  const etag = `"${file.sha256}"`
  const disposition = dispositionFor(file.originalName, inline)
  if (isNotModified(request, file, etag)) {
    return reply.status(304).headers({ etag, 'last-modified': file.uploadedAt.toUTCString(), 'cache-control': 'private, no-cache' }).send()
  }
  if (request.method === 'GET') {
    const direct = await files.directDownloadUrl(file, { contentDisposition: disposition })
    if (direct) return reply.header('cache-control', 'private, no-store').redirect(direct, 302)
  }
  void reply.headers({
    etag,
    'last-modified': file.uploadedAt.toUTCString(),
    'cache-control': 'private, no-cache',
    'accept-ranges': 'bytes',
    'content-type': file.mimeType,
    'content-disposition': disposition,
  })

  const range = rangeStillApplies(request, file, etag) ? parseRangeHeader(request.headers.range, file.sizeBytes) : undefined
  if (range === 'unsatisfiable') throw ERRORS.rangeNotSatisfiable(file.sizeBytes)
  if (range) {
    void reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${file.sizeBytes}`)
  }
  void reply.header('content-length', range ? range.end - range.start + 1 : file.sizeBytes)
  if (request.method === 'HEAD') return reply.send()
  return reply.send(await files.openContent(file, range))
}

export default function downloadFileRoute(app: App, deps: RouteDeps): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/api/files/:id',
    onRequest: async (request) => {
      if (!isSignedRequest(request.query)) await deps.authenticate(request)
    },
    schema: {
      summary: 'Download a file: Authorization header, or a signed URL without one. Supports Range and conditional requests',
      tags: ['files'],
      security: [...bearerSecurity, {}],
      params: FileIdParams,
      querystring: DownloadQuery,
      response: {
        200: { description: 'The file bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        206: { description: 'The requested byte range' },
        304: { description: 'Not modified since the cached copy (ETag / Last-Modified)' },
        ...errorResponses(401, 403, 404, 416, 429),
      },
    },
    handler: async (request, reply) => {
      const { id } = request.params
      const { expires, sig, key, inline } = request.query
      let file: StoredFile
      if (isSignedRequest(request.query)) {
        deps.urlSigner.verify(id, expires ?? '', sig ?? '', key)
        file = await deps.access.linkedFile(id, key)
      } else {
        file = await deps.access.readable(id, request.caller, { ip: request.ip }, 'file.download')
      }
      return sendFile(request, reply, deps.files, file, inline === '1')
    },
  })
}
