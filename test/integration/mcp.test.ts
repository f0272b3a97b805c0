import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { plainPng, reportDocx } from '../helpers/documents.js'
import { auth, uploadFile } from '../helpers/http.js'
import { CLI } from '../helpers/process.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

type ToolResult = { isError?: boolean; content: Array<{ type: string; text: string }> }

describe('the MCP server, over Streamable HTTP (/mcp) and stdio (cabinet mcp)', () => {
  let cabinet: TestServer
  const files: Record<string, string> = {}
  let photo: Buffer
  let docx: Buffer
  const keys: Record<string, { key: string; id: string }> = {}

  const issue = async (name: string, scopes: Array<'files:read' | 'chat'>, options: { allUsers?: boolean } = {}) => {
    const issued = await cabinet.server.services.keys.issue({ name, scopes, ...options })
    keys[name] = { key: issued.key, id: issued.record.id }
  }
  const upload = async (token: string, name: string, bytes: Buffer) => ((await (await uploadFile(cabinet.url, { token, name, bytes })).json()) as { file_id: string }).file_id
  /** The environment `cabinet mcp` needs: the server's storage and this key. */
  const stdioEnv = (key: string) => ({ PATH: process.env.PATH ?? '', ...cabinet.backend.env, CABINET_PUBLIC_URL: cabinet.url, CABINET_MCP_KEY: key })
  const transports: Record<string, (key: string) => Transport> = {
    'streamable-http': (key) => new StreamableHTTPClientTransport(new URL(`${cabinet.url}/mcp`), { requestInit: { headers: auth(key) } }),
    stdio: (key) => new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], env: stdioEnv(key), stderr: 'pipe' }),
  }
  const connect = async (transport: string, key: string) => {
    const client = new Client({ name: 'cabinet-test', version: '1.0.0' })
    await client.connect(transports[transport]!(key))
    return client
  }
  const call = async (client: Client, name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult
  const json = (result: ToolResult) => JSON.parse(result.content[0]!.text)

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_ALLOWED_TYPES: 'png,docx,txt' })
    const alice = await cabinet.token('alice')
    const bob = await cabinet.token('bob')
    docx = await reportDocx()
    photo = await plainPng(20, 10)
    files.docx = await upload(alice, 'report.docx', docx)
    files.photo = await upload(alice, 'photo.png', photo)
    files.notes = await upload(alice, 'quarterly-notes.txt', Buffer.from('quarterly notes, not for agents'))
    files.bob = await upload(bob, 'bob.txt', Buffer.from('bob only'))
    await issue('granted', ['files:read'])
    await issue('everyone', ['files:read'], { allUsers: true })
    await issue('chat-only', ['chat'])
    for (const id of [files.docx, files.photo]) {
      const response = await fetch(`${cabinet.url}/api/files/${id}/grants`, {
        method: 'POST',
        headers: auth(alice, { 'content-type': 'application/json' }),
        body: JSON.stringify({ key: 'granted', ttl: 600 }),
      })
      expect(response.status).toBe(201)
    }
  })
  afterAll(() => cabinet.stop())

  describe.each(['streamable-http', 'stdio'])('over %s', (transport) => {
    let client: Client

    beforeAll(async () => {
      client = await connect(transport, keys.granted!.key)
    })
    afterAll(() => client.close())

    it('offers the four tools and the files as resources', async () => {
      const tools = (await client.listTools()).tools.map((tool) => tool.name).sort()
      expect(tools).toEqual(['get_file_url', 'list_files', 'read_file_text', 'search_files'])
      const resources = (await client.listResources()).resources
      expect(resources.map((r) => [r.uri, r.name]).sort()).toEqual([
        [`cabinet://files/${files.docx}`, 'report.docx'],
        [`cabinet://files/${files.photo}`, 'photo.png'],
      ].sort())
    })

    it('lists and searches only what the key may read', async () => {
      const listed = json(await call(client, 'list_files', {}))
      expect(listed.files.map((f: { name: string }) => f.name).sort()).toEqual(['photo.png', 'report.docx'])
      expect(listed.next_cursor).toBeNull()
      expect(json(await call(client, 'search_files', { query: 'report' })).files.map((f: { file_id: string }) => f.file_id)).toEqual([files.docx])
      expect(json(await call(client, 'search_files', { query: 'quarterly' })).files).toEqual([])
      expect(await call(client, 'search_files', { query: 'report\u0000' })).toMatchObject({
        isError: true,
        content: [{ type: 'text', text: 'q may not contain control characters (BAD_REQUEST)' }],
      })
    })

    it('reads a file\'s extracted text, page by page, and is refused a file the key may not read', async () => {
      const result = await call(client, 'read_file_text', { file_id: files.docx, wait_seconds: 20 })
      expect(result.isError).toBeFalsy()
      const facts = JSON.parse(result.content[0]!.text)
      expect(facts).toMatchObject({ file_id: files.docx, name: 'report.docx', status: 'done', offset: 0, next_offset: null })
      expect(result.content[1]!.text).toContain('# 季度报告 Q3')
      const page = await call(client, 'read_file_text', { file_id: files.docx, offset: 2, max_chars: 5 })
      expect(JSON.parse(page.content[0]!.text)).toMatchObject({ offset: 2, returned_chars: 5, next_offset: 7 })
      expect(page.content[1]!.text).toBe('季度报告 ')
      for (const id of [files.notes, files.bob, 'f'.repeat(32)]) {
        const refused = await call(client, 'read_file_text', { file_id: id })
        expect(refused).toMatchObject({ isError: true, content: [{ type: 'text', text: 'File not found (FILE_NOT_FOUND)' }] })
      }
    })

    it('hands out a signed URL that downloads without a header and ends with the grant', async () => {
      const { url, expires_at } = json(await call(client, 'get_file_url', { file_id: files.docx, expires_in: 86_400 }))
      expect(url.startsWith(`${cabinet.url}/api/files/${files.docx}?expires=`)).toBe(true)
      expect(Date.parse(expires_at) - Date.now()).toBeLessThanOrEqual(600_000)
      const download = await fetch(url)
      expect(download.status).toBe(200)
      expect(Buffer.from(await download.arrayBuffer())).toEqual(docx)
      expect((await call(client, 'get_file_url', { file_id: files.bob })).isError).toBe(true)
    })

    it('reads files as resources: an image as its bytes, a document as its text; others are not found', async () => {
      const image = await client.readResource({ uri: `cabinet://files/${files.photo}` })
      expect(image.contents).toEqual([{ uri: `cabinet://files/${files.photo}`, mimeType: 'image/png', blob: photo.toString('base64') }])
      const document = await client.readResource({ uri: `cabinet://files/${files.docx}` })
      expect(document.contents[0]).toMatchObject({ mimeType: 'text/markdown', text: expect.stringContaining('Revenue grew **12%** this quarter.') })
      await expect(client.readResource({ uri: `cabinet://files/${files.notes}` })).rejects.toThrow(/Resource not found/)
    })

    it('an --all-users key reads every user\'s files', async () => {
      const everyone = await connect(transport, keys.everyone!.key)
      try {
        const names = json(await call(everyone, 'list_files', {})).files.map((f: { name: string }) => f.name)
        expect(names).toEqual(expect.arrayContaining(['bob.txt', 'quarterly-notes.txt', 'report.docx']))
        expect(json(await call(everyone, 'search_files', { query: 'quarterly' })).files.map((f: { file_id: string }) => f.file_id)).toEqual([files.notes])
        const text = await call(everyone, 'read_file_text', { file_id: files.bob })
        expect(text.content[1]!.text).toBe('bob only')
      } finally {
        await everyone.close()
      }
    })
  })

  it('writes every MCP access to the audit log, refused ones included', async () => {
    const entries = await cabinet.server.services.audit.list({ keyId: keys.granted!.id, limit: 500 })
    const seen = (action: string, outcome: string, fileId?: string) => entries.some((e) => e.action === action && e.outcome === outcome && (fileId === undefined || e.fileId === fileId))
    expect(seen('mcp.list_files', 'allowed')).toBe(true)
    expect(seen('mcp.search_files', 'allowed')).toBe(true)
    expect(seen('mcp.read_file_text', 'allowed', files.docx)).toBe(true)
    expect(seen('mcp.read_file_text', 'denied', files.notes)).toBe(true)
    expect(seen('mcp.get_file_url', 'allowed', files.docx)).toBe(true)
    expect(seen('mcp.read_resource', 'allowed', files.photo)).toBe(true)
    expect(entries.filter((e) => e.ip === 'stdio').length).toBeGreaterThan(5)
  })

  it('gives a key without files:read nothing: 403 over HTTP, and cabinet mcp refuses to start', async () => {
    const refused = await fetch(`${cabinet.url}/mcp`, {
      method: 'POST',
      headers: auth(keys['chat-only']!.key, { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    expect(refused.status).toBe(403)
    expect(await refused.json()).toEqual({ error: 'This API key lacks the files:read scope', code: 'SCOPE_MISSING' })
    expect((await fetch(`${cabinet.url}/mcp`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401)
    expect((await fetch(`${cabinet.url}/mcp`)).status).toBe(405)

    const child = spawn(process.execPath, [CLI, 'mcp'], { env: stdioEnv(keys['chat-only']!.key), stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    let stdout = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    const [code] = (await once(child, 'close')) as [number]
    expect(code).toBe(77)
    expect(stderr).toContain('This API key lacks the files:read scope')
    expect(stdout).toBe('')
  })

  it('stops a running stdio session once its key is revoked', async () => {
    await issue('short-lived', ['files:read'])
    const client = await connect('stdio', keys['short-lived']!.key)
    try {
      expect((await call(client, 'list_files', {})).isError).toBeFalsy()
      await cabinet.server.services.keys.revoke('short-lived')
      expect(await call(client, 'list_files', {})).toMatchObject({
        isError: true,
        content: [{ text: 'The API key in CABINET_MCP_KEY is invalid, expired or revoked (UNAUTHORIZED)' }],
      })
    } finally {
      await client.close()
    }
  })
})
