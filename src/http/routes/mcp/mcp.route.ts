import { ERRORS } from '../../../errors.js'
import { hijackKeepingHeaders } from '../../hijack.js'
import type { App, RouteDeps } from '../../route-deps.js'

/**
 * Cabinet's MCP server over Streamable HTTP (https://modelcontextprotocol.io/specification/2025-06-18/basic/transports),
 * stateless: each POST is one JSON-RPC exchange, answered as JSON, for the caller its bearer
 * credential names (an API key needs `files:read`). Not a REST route, so it is left out of the
 * OpenAPI document. The MCP SDK is loaded on the first call.
 */
export default function mcpRoute(app: App, deps: RouteDeps): void {
  const { config } = deps
  app.post(
    '/mcp',
    {
      onRequest: deps.authenticate,
      config: { keyScope: 'files:read' },
      schema: { hide: true },
    },
    async (request, reply) => {
      const [{ StreamableHTTPServerTransport }, { createCabinetMcpServer }] = await Promise.all([
        import('@modelcontextprotocol/sdk/server/streamableHttp.js'),
        import('../../../mcp/cabinet-mcp-server.js'),
      ])
      const caller = request.caller
      const server = await createCabinetMcpServer({
        caller: async () => caller,
        origin: { ip: request.ip },
        access: deps.access,
        files: deps.files,
        extraction: deps.extraction,
        urlSigner: deps.urlSigner,
        publicUrl: config.publicUrl ?? `${request.protocol}://${request.host}`,
        signedUrlTtlSeconds: config.signedUrlTtlSeconds,
        signedUrlMaxTtlSeconds: config.signedUrlMaxTtlSeconds,
        maxImageBytes: config.chat.maxImageBytes,
        logger: request.log,
      })
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
      // The transport writes the answer itself.
      hijackKeepingHeaders(reply)
      reply.raw.on('close', () => {
        void transport.close()
        void server.close()
      })
      await server.connect(transport)
      await transport.handleRequest(request.raw, reply.raw, request.body)
    },
  )
  // Stateless: no server-to-client stream to open, no session to end.
  const postOnly = async () => {
    throw ERRORS.methodNotAllowed('POST')
  }
  app.get('/mcp', { schema: { hide: true } }, postOnly)
  app.delete('/mcp', { schema: { hide: true } }, postOnly)
}
