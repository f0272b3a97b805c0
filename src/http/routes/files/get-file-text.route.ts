import { Type } from '@sinclair/typebox'
import type { FileText } from '../../../domain/extraction/extraction-service.js'
import { ERRORS } from '../../../errors.js'
import type { App, RouteDeps } from '../../route-deps.js'
import { bearerSecurity, errorResponses, FileIdParams } from '../../schemas.js'

const TextQuery = Type.Object({
  wait: Type.Optional(Type.Integer({ minimum: 0, maximum: 30, description: 'Seconds to wait for a pending extraction to finish (0–30; default 0)' })),
})

const FileTextSchema = Type.Object(
  {
    file_id: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('done'), Type.Literal('failed'), Type.Literal('unsupported')]),
    error: Type.Union([Type.String(), Type.Null()], { description: 'Why extraction failed' }),
    kind: Type.String({ description: 'The file type, e.g. pdf' }),
    text: Type.String({ description: 'All extracted text: Markdown for DOCX and sheets; pages and sheets separated by a blank line' }),
    pages: Type.Optional(Type.Array(Type.Object({ number: Type.Integer(), text: Type.String() }), { description: 'PDF: each page read' })),
    sheets: Type.Optional(Type.Array(Type.Object({ name: Type.String(), text: Type.String() }), { description: 'XLSX: each sheet as a Markdown table' })),
    page_count: Type.Optional(Type.Integer({ description: 'Pages in the PDF, also those past the page cap' })),
    sheet_count: Type.Optional(Type.Integer()),
    word_count: Type.Integer({ description: 'Words; each Chinese character counts as one' }),
    char_count: Type.Integer(),
    truncated: Type.Boolean({ description: 'Some text was left out by a cap' }),
    image: Type.Optional(
      Type.Object({
        format: Type.String(),
        width: Type.Integer(),
        height: Type.Integer(),
        orientation: Type.Optional(Type.Integer({ description: 'EXIF orientation 1–8' })),
        captured_at: Type.Optional(Type.String({ description: 'EXIF capture time, as the camera wrote it' })),
        has_gps: Type.Boolean(),
      }),
    ),
  },
  { $id: 'FileText', title: 'FileText' },
)

function toFileTextJson(text: FileText) {
  const { image } = text
  return {
    file_id: text.fileId,
    status: text.status,
    error: text.error ?? null,
    kind: text.kind,
    text: text.text,
    pages: text.pages && [...text.pages],
    sheets: text.sheets && [...text.sheets],
    page_count: text.pageCount,
    sheet_count: text.sheetCount,
    word_count: text.wordCount,
    char_count: text.charCount,
    truncated: text.truncated,
    image: image && {
      format: image.format,
      width: image.width,
      height: image.height,
      orientation: image.orientation,
      captured_at: image.capturedAt,
      has_gps: image.hasGps,
    },
  }
}

export default function getFileTextRoute(app: App, deps: RouteDeps): void {
  app.get(
    '/api/files/:id/text',
    {
      onRequest: deps.authenticate,
      schema: {
        summary: 'What Cabinet extracted from the file: text per page or sheet, word count, image facts',
        tags: ['files'],
        security: bearerSecurity,
        params: FileIdParams,
        querystring: TextQuery,
        response: { 200: FileTextSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const file = await deps.access.readable(request.params.id, request.caller, { ip: request.ip }, 'file.text')
      const wait = (request.query.wait ?? 0) * 1000
      const text = await deps.extraction.waitFor(file.id, { timeoutMs: wait })
      if (!text) throw ERRORS.fileNotFound()
      return toFileTextJson(text)
    },
  )
}
