import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult, ReadResourceResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { StoredFile } from '../db/metadata-store.js'
import type { FileAccess } from '../domain/auth/file-access.js'
import type { Caller, RequestOrigin } from '../domain/auth/identity.js'
import { signedFileUrl, type UrlSigner } from '../domain/auth/signed-url.js'
import { base64Pieces } from '../domain/chat/base64.js'
import { IMAGE_KINDS } from '../domain/chat/file-facts.js'
import type { ExtractionService, FileText } from '../domain/extraction/extraction-service.js'
import type { FileService } from '../domain/files/file-service.js'
import { AppError, clientErrorOf } from '../errors.js'

/** What the MCP tools work with, for one caller. */
export interface CabinetMcpContext {
  /**
   * Who is calling, established again for every request, so that a key revoked while an MCP
   * session is open stops working at once. Throws (UNAUTHORIZED, SCOPE_MISSING) to refuse.
   */
  caller(): Promise<Caller>
  readonly origin: RequestOrigin
  readonly access: FileAccess
  readonly files: FileService
  readonly extraction: ExtractionService
  readonly urlSigner: UrlSigner
  /** Origin of the signed URLs handed out, e.g. `https://files.example.com`. */
  readonly publicUrl: string
  readonly signedUrlTtlSeconds: number
  readonly signedUrlMaxTtlSeconds: number
  /** Largest image a resource read returns as a blob; larger ones read as their facts. */
  readonly maxImageBytes: number
  /** Where a tool's unexpected failure is logged (its details never reach the client). */
  readonly logger: { error(details: object, message: string): void }
}

const FILE_URI = 'cabinet://files/{file_id}'
const FILE_ID = z.string().regex(/^[0-9a-f]{32}$/, 'a file_id: 32 hexadecimal digits')
/** Text a resource read returns at most; read_file_text pages through the rest. */
const RESOURCE_TEXT_CHARS = 200_000
const LISTED_RESOURCES = 200

/**
 * Cabinet as an MCP server (https://modelcontextprotocol.io): tools `list_files`, `search_files`,
 * `read_file_text` and `get_file_url`, and each readable file as a resource `cabinet://files/<id>`,
 * limited to what the caller may read (FileAccess: an API key reads its own files, those granted
 * to it now, or every user's with --all-users) and audited, access by access. The same server runs
 * over stdio (`cabinet mcp`) and Streamable HTTP (`/mcp`). The SDK is loaded on first use.
 */
export async function createCabinetMcpServer(context: CabinetMcpContext): Promise<McpServer> {
  const { McpServer, ResourceTemplate } = await import('@modelcontextprotocol/sdk/server/mcp.js')
  const { McpError } = await import('@modelcontextprotocol/sdk/types.js')
  const server = new McpServer(
    { name: 'cabinet', version: '0.1.0' },
    {
      instructions:
        'Cabinet stores the files of a WeChat Mini Program\'s users. List or search the files you may read, read their text (Cabinet extracts PDF, DOCX, XLSX, DOC and text files), or get a signed link to the bytes.',
    },
  )
  const { access, origin } = context

  /** Runs a tool, answering Cabinet's errors (a file the caller may not read: "File not found") as tool errors. */
  const tool = async (run: (caller: Caller) => Promise<CallToolResult>): Promise<CallToolResult> => {
    try {
      return await run(await context.caller())
    } catch (thrown) {
      const error = clientErrorOf(thrown)
      if (error) return { isError: true, content: [{ type: 'text', text: `${error.message} (${error.code})` }] }
      context.logger.error({ err: thrown }, 'MCP tool failed')
      return { isError: true, content: [{ type: 'text', text: 'Internal error (INTERNAL_ERROR)' }] }
    }
  }
  const json = (value: unknown): CallToolResult => ({ content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] })

  const pageArguments = {
    limit: z.number().int().min(1).max(200).optional().describe('Files per page (default 50)'),
    cursor: z.string().max(200).optional().describe('next_cursor of the previous page'),
    type: z.string().max(200).optional().describe('Only these types: extensions (pdf,docx), a MIME type (image/png) or a family (image)'),
  }

  server.registerTool(
    'list_files',
    {
      title: 'List files',
      description: 'The files you may read, newest first, with their file_id, name, type, size and upload time.',
      inputSchema: pageArguments,
      annotations: { readOnlyHint: true },
    },
    ({ limit, cursor, type }) =>
      tool(async (caller) => {
        const page = await access.list(caller, origin, { limit: limit ?? 50, ...(cursor ? { cursor } : {}), ...(type ? { type } : {}) }, 'mcp.list_files')
        return json({ files: page.files.map(fileJson), next_cursor: page.nextCursor ?? null })
      }),
  )

  server.registerTool(
    'search_files',
    {
      title: 'Search files',
      description: 'Search the names and extracted text of the files you may read: every word of the query must occur (any language, Chinese included). Best matches first.',
      inputSchema: { query: z.string().min(1).max(500).describe('Words to find, e.g. "季度 报告"'), ...pageArguments },
      annotations: { readOnlyHint: true },
    },
    ({ query, limit, cursor, type }) =>
      tool(async (caller) => {
        const page = await access.search(caller, origin, { q: query, limit: limit ?? 20, ...(cursor ? { cursor } : {}), ...(type ? { type } : {}) }, 'mcp.search_files')
        return json({ files: page.files.map(fileJson), next_cursor: page.nextCursor ?? null })
      }),
  )

  server.registerTool(
    'read_file_text',
    {
      title: 'Read a file\'s text',
      description:
        'The text Cabinet extracted from a file: PDF pages, DOCX and XLSX as Markdown, text files as they are; images give their facts (size, capture time). Long texts come in pages of max_chars: pass next_offset as offset for the next one.',
      inputSchema: {
        file_id: FILE_ID,
        offset: z.number().int().min(0).optional().describe('Where to start, in characters (default 0)'),
        max_chars: z.number().int().min(1).max(100_000).optional().describe('Characters to return (default 20000)'),
        wait_seconds: z.number().int().min(0).max(30).optional().describe('Seconds to wait for a pending extraction (default 5)'),
      },
      annotations: { readOnlyHint: true },
    },
    ({ file_id, offset, max_chars, wait_seconds }) =>
      tool(async (caller) => {
        const file = await access.readable(file_id, caller, origin, 'mcp.read_file_text')
        const text = await context.extraction.waitFor(file.id, { timeoutMs: (wait_seconds ?? 5) * 1000 })
        const start = Math.min(offset ?? 0, text?.text.length ?? 0)
        const chunk = text?.text.slice(start, start + (max_chars ?? 20_000)) ?? ''
        const end = start + chunk.length
        return {
          content: [
            {
              type: 'text',
              text: JSON.stringify({
                ...fileJson(file),
                ...textFacts(text),
                offset: start,
                returned_chars: chunk.length,
                next_offset: text && end < text.text.length ? end : null,
              }),
            },
            ...(chunk ? [{ type: 'text' as const, text: chunk }] : []),
          ],
        }
      }),
  )

  server.registerTool(
    'get_file_url',
    {
      title: 'Get a download link',
      description: 'A signed URL that downloads the file\'s bytes without any header until it expires (never after your grant for it ends).',
      inputSchema: {
        file_id: FILE_ID,
        expires_in: z.number().int().min(1).max(context.signedUrlMaxTtlSeconds).optional().describe(`Seconds (default ${context.signedUrlTtlSeconds})`),
        inline: z.boolean().optional().describe('The link displays the file instead of downloading it'),
      },
      annotations: { readOnlyHint: true },
    },
    ({ file_id, expires_in, inline }) =>
      tool(async (caller) => {
        const { file, until } = await access.readableUntil(file_id, caller, origin, 'mcp.get_file_url')
        const { url, expiresAt } = signedFileUrl(context.urlSigner, {
          fileId: file.id,
          ttlSeconds: expires_in ?? context.signedUrlTtlSeconds,
          until,
          keyId: caller.key?.id,
          origin: context.publicUrl,
          inline: inline === true,
        })
        return json({ url, expires_at: expiresAt.toISOString() })
      }),
  )

  server.registerResource(
    'file',
    new ResourceTemplate(FILE_URI, {
      list: async () => {
        const page = await access.list(await context.caller(), origin, { limit: LISTED_RESOURCES }, 'mcp.list_resources')
        return {
          resources: page.files.map((file) => ({ uri: `cabinet://files/${file.id}`, name: file.originalName, mimeType: file.mimeType, size: file.sizeBytes })),
        }
      },
    }),
    { title: 'A file', description: 'A file you may read: an image as its bytes, any other file as the text Cabinet extracted' },
    async (uri, variables): Promise<ReadResourceResult> => {
      try {
        return await readResource(uri, String(variables.file_id))
      } catch (error) {
        if (error instanceof McpError) throw error
        // MCP's "resource not found", for a file the caller may not read exactly as for a missing one.
        if (error instanceof AppError && error.code === 'FILE_NOT_FOUND') throw new McpError(-32002, 'Resource not found', { uri: uri.href })
        if (error instanceof AppError && error.status < 500) throw new McpError(-32600, error.message, { code: error.code })
        // A storage or database failure is logged here; its text is not the client's business.
        context.logger.error({ err: error, uri: uri.href }, 'an MCP resource read failed')
        throw new McpError(-32603, 'Internal error')
      }
    },
  )
  return server

  async function readResource(uri: URL, id: string): Promise<ReadResourceResult> {
    const file = await access.readable(id, await context.caller(), origin, 'mcp.read_resource')
    if (IMAGE_KINDS.has(file.kind) && file.sizeBytes <= context.maxImageBytes) {
      const content = await context.files.openContent(file)
      let blob = ''
      for await (const piece of base64Pieces(Buffer.isBuffer(content) ? [content] : (content as AsyncIterable<Buffer>), { maxBytes: file.sizeBytes, exactBytes: file.sizeBytes })) blob += piece
      return { contents: [{ uri: uri.href, mimeType: file.mimeType, blob }] }
    }
    const text = await context.extraction.waitFor(file.id, { timeoutMs: 5000 })
    const body = text && text.text ? text.text.slice(0, RESOURCE_TEXT_CHARS) : JSON.stringify({ ...fileJson(file), ...textFacts(text) })
    const cut = text && text.text.length > RESOURCE_TEXT_CHARS ? `\n\n[Cabinet: the first ${RESOURCE_TEXT_CHARS} characters; read_file_text pages through the rest]` : ''
    return { contents: [{ uri: uri.href, mimeType: text?.text ? textMimeType(file.kind) : 'application/json', text: body + cut }] }
  }
}

function fileJson(file: StoredFile) {
  return { file_id: file.id, name: file.originalName, type: file.kind, mime_type: file.mimeType, size: file.sizeBytes, uploaded_at: file.uploadedAt.toISOString() }
}

function textFacts(text: FileText | undefined) {
  if (!text) return { status: 'pending' }
  return {
    status: text.status,
    ...(text.error ? { error: text.error } : {}),
    ...(text.pageCount !== undefined ? { page_count: text.pageCount } : {}),
    ...(text.sheets ? { sheets: text.sheets.map((sheet) => sheet.name) } : {}),
    word_count: text.wordCount,
    char_count: text.charCount,
    truncated: text.truncated,
    ...(text.image
      ? { image: { format: text.image.format, width: text.image.width, height: text.image.height, captured_at: text.image.capturedAt ?? null, has_gps: text.image.hasGps } }
      : {}),
  }
}

function textMimeType(kind: string): string {
  if (kind === 'md' || kind === 'docx' || kind === 'xlsx' || kind === 'doc') return 'text/markdown'
  if (kind === 'csv') return 'text/csv'
  if (kind === 'json') return 'application/json'
  return 'text/plain'
}
