import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Writable } from 'node:stream'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiKeyScope } from '../../src/db/metadata-store.js'
import { createLogger } from '../../src/logger.js'
import { AgentStandIn, type RecordedRequest } from '../helpers/agent-stand-in.js'
import { formatBytes } from '../../src/domain/chat/file-facts.js'
import { chinesePdf, latinPdf, plainPng, reportDocx, salesXlsx, zipBombDocx } from '../helpers/documents.js'
import { auth, eventually, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

const ALL_TYPES = 'jpg,png,pdf,doc,docx,xlsx,txt,md,csv,json'

interface ChatJson {
  reply: string
  conversation_id: string
  from_agent: boolean
  attachments: Array<{ file_id: string; name: string; sent_as: string; reduced: boolean; deleted: boolean; note: string }>
}

/** A part of the user message an agent received, decoded. */
interface ReceivedPart {
  type: string
  mediaType?: string
  filename?: string
  text?: string
  bytes?: Buffer
}

/** The parts of the last user message of an OpenResponses request, files and images decoded. */
function responsesParts(request: RecordedRequest): ReceivedPart[] {
  const input = request.body.input as Array<{ role: string; content: unknown }>
  const last = input.at(-1)!
  return (last.content as Array<{ type: string; text?: string; source?: { data: string; media_type: string; filename?: string } }>).map((part) => {
    if (part.type === 'input_text') return { type: 'text', text: part.text! }
    const bytes = Buffer.from(part.source!.data, 'base64')
    return { type: part.type, mediaType: part.source!.media_type, ...(part.source!.filename ? { filename: part.source!.filename } : {}), bytes, text: bytes.toString('utf8') }
  })
}

/** Every server-sent event of a response, in order. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each event has its own shape; the tests read its fields
async function events(response: Response): Promise<Array<{ event: string; data: any }>> {
  const text = await response.text()
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n')
      return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) }
    })
}

describe('POST /api/chat with an OpenResponses agent (OpenClaw)', () => {
  let agent: AgentStandIn
  let cabinet: TestServer
  const logs: string[] = []
  const exposed: string[] = []
  let alice: string
  let bob: string
  const files: Record<string, string> = {}
  const photo: { bytes: Buffer } = { bytes: Buffer.alloc(0) }
  let agentKey: { key: string; id: string }

  const chat = async (token: string, body: Record<string, unknown>): Promise<Response> => {
    const response = await fetch(`${cabinet.url}/api/chat`, { method: 'POST', headers: auth(token, { 'content-type': 'application/json' }), body: JSON.stringify(body) })
    // Everything a client sees, to look for the agent's token.
    exposed.push(JSON.stringify([...response.headers]), await response.clone().text())
    return response
  }
  const upload = async (token: string, name: string, bytes: Buffer) => {
    const response = await uploadFile(cabinet.url, { token, name, bytes })
    expect(response.status).toBe(200)
    return ((await response.json()) as { file_id: string }).file_id
  }
  const newKey = async (scopes: ApiKeyScope[], name = `key-${randomBytes(3).toString('hex')}`) => {
    const issued = await cabinet.server.services.keys.issue({ name, scopes })
    return { key: issued.key, id: issued.record.id }
  }

  beforeAll(async () => {
    agent = await AgentStandIn.start()
    const capture = new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk))
        done()
      },
    })
    cabinet = await startTestServer(
      {
        CABINET_ALLOWED_TYPES: ALL_TYPES,
        CABINET_AGENT_URL: agent.url,
        CABINET_AGENT_TOKEN: agent.token,
        CABINET_AGENT_TIMEOUT_MS: '1500',
        CABINET_AGENT_KEY: 'openclaw-agent',
        CABINET_CHAT_MAX_IMAGE_BYTES: '300000',
        CABINET_CHAT_MAX_TEXT_CHARS: '20000',
        CABINET_CHAT_MAX_MESSAGE_CHARS: '2000',
        CABINET_CHAT_MAX_ATTACHMENTS: '7',
        CABINET_EXTRACT_MAX_DECOMPRESSED_BYTES: String(8 * 1024 * 1024),
        // One user chats more often in a minute here than the default allows; rate-limits.test.ts covers the limit.
        CABINET_RATE_LIMIT_CHATS_PER_USER: '0',
      },
      undefined,
      { logger: createLogger({ logLevel: 'trace' }, capture) },
    )
    alice = await cabinet.token('alice')
    bob = await cabinet.token('bob')
    agentKey = await newKey(['files:read'], 'openclaw-agent')
    photo.bytes = await plainPng(40, 30)
    files.docx = await upload(alice, 'report.docx', await reportDocx())
    files.xlsx = await upload(alice, 'sales.xlsx', await salesXlsx())
    files.pdf = await upload(alice, '季度报告.pdf', await chinesePdf([['季度报告：收入增长百分之十二'], ['第二页：华东区销售创新高']]))
    files.photo = await upload(alice, 'photo.png', photo.bytes)
    files.bob = await upload(bob, 'bob-secret.txt', Buffer.from('bob private notes'))
  })
  afterAll(async () => {
    await cabinet.stop()
    await agent.close()
  })

  it('hands the message and the caller\'s files to the agent: DOCX and XLSX as Markdown, the PDF\'s text, the image as it is', async () => {
    const before = agent.requests.length
    const response = await chat(alice, {
      message: 'Please analyze the uploaded files',
      attachments: [{ file_id: files.docx }, { file_id: files.xlsx }, { file_id: files.pdf }, { file_id: files.photo }],
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as ChatJson
    expect(body).toMatchObject({ from_agent: true, reply: expect.stringMatching(/^Received \d+ bytes\.$/) })
    expect(body.conversation_id).toMatch(/^[0-9a-f]{32}$/)
    expect(body.attachments.map((a) => [a.name, a.sent_as, a.reduced, a.deleted])).toEqual([
      ['report.docx', 'text', false, false],
      ['sales.xlsx', 'text', false, false],
      ['季度报告.pdf', 'text', false, false],
      ['photo.png', 'image', false, false],
    ])
    expect(agent.requests.length).toBe(before + 1)

    const request = agent.last
    expect(request.path).toBe('/v1/responses')
    expect(request.headers.authorization).toBe(`Bearer ${agent.token}`)
    expect(request.body).toMatchObject({ model: 'openclaw/main', stream: false, user: `cabinet:alice:${body.conversation_id}` })
    const parts = responsesParts(request)
    expect(parts[0]).toEqual({ type: 'text', text: 'Please analyze the uploaded files' })
    expect(parts[1]!.text).toContain('[Cabinet] Files attached to this conversation:')
    expect(parts[1]!.text).toContain(`report.docx (file_id ${files.docx})`)
    const [docx, xlsx, pdf, image] = parts.slice(2)
    expect(docx).toMatchObject({ type: 'input_file', mediaType: 'text/markdown', filename: 'report.docx.md' })
    expect(docx!.text).toContain('# 季度报告 Q3\n\nRevenue grew **12%** this quarter.')
    expect(xlsx).toMatchObject({ type: 'input_file', mediaType: 'text/markdown', filename: 'sales.xlsx.md' })
    expect(xlsx!.text).toContain('## Sheet: 备注')
    expect(xlsx!.text).toContain('| 2025-03-31 | 季度结算 |')
    expect(pdf).toMatchObject({ type: 'input_file', mediaType: 'text/plain', filename: '季度报告.pdf.txt' })
    expect(pdf!.text).toBe('[Page 1]\n季度报告：收入增长百分之十二\n\n[Page 2]\n第二页：华东区销售创新高')
    expect(image).toMatchObject({ type: 'input_image', mediaType: 'image/png' })
    expect(image!.bytes).toEqual(photo.bytes)
    expect(parts).toHaveLength(6)
  })

  it('refuses another user\'s file and another user\'s conversation with 404, sending the agent nothing', async () => {
    const first = (await (await chat(alice, { message: 'hello', attachments: [{ file_id: files.photo }] })).json()) as ChatJson
    const before = agent.requests.length
    const foreign = await chat(alice, { message: 'read this', attachments: [{ file_id: files.bob }] })
    expect(foreign.status).toBe(404)
    expect(await foreign.json()).toEqual({ error: 'File not found', code: 'FILE_NOT_FOUND' })
    const stolen = await chat(bob, { message: 'what did alice say?', conversation_id: first.conversation_id })
    expect(stolen.status).toBe(404)
    expect(await stolen.json()).toEqual({ error: 'Conversation not found', code: 'CONVERSATION_NOT_FOUND' })
    expect((await fetch(`${cabinet.url}/api/chat/conversations/${first.conversation_id}`, { headers: auth(bob) })).status).toBe(404)
    expect(agent.requests.length).toBe(before)
    expect((await chat('', { message: 'x' })).status).toBe(401)
  })
  it('keeps a conversation: a follow-up sends the earlier files again, with the history, under the same session key', async () => {
    const first = (await (await chat(alice, { message: 'Summarise the report', attachments: [{ file_id: files.docx }] })).json()) as ChatJson
    const followUp = await chat(alice, { message: 'And the sales?', conversation_id: first.conversation_id, attachments: [{ file_id: files.xlsx }] })
    expect(followUp.status).toBe(200)
    const second = (await followUp.json()) as ChatJson
    expect(second.conversation_id).toBe(first.conversation_id)
    expect(second.attachments.map((a) => a.name)).toEqual(['report.docx', 'sales.xlsx'])
    const request = agent.last
    expect(request.body.user).toBe(`cabinet:alice:${first.conversation_id}`)
    const input = request.body.input as Array<{ role: string; content: unknown }>
    expect(input.slice(0, 2)).toEqual([
      { type: 'message', role: 'user', content: 'Summarise the report' },
      { type: 'message', role: 'assistant', content: first.reply },
    ])
    const sent = responsesParts(request).filter((part) => part.type === 'input_file').map((part) => part.filename)
    expect(sent).toEqual(['report.docx.md', 'sales.xlsx.md'])

    const other = (await (await chat(alice, { message: 'A new topic' })).json()) as ChatJson
    expect(other.conversation_id).not.toBe(first.conversation_id)
    expect(agent.last.body.user).toBe(`cabinet:alice:${other.conversation_id}`)

    const view = await (await fetch(`${cabinet.url}/api/chat/conversations/${first.conversation_id}`, { headers: auth(alice) })).json()
    expect(view).toMatchObject({ conversation_id: first.conversation_id, title: 'Summarise the report', message_count: 4 })
    expect(view.messages.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'Summarise the report'],
      ['assistant', first.reply],
      ['user', 'And the sales?'],
      ['assistant', second.reply],
    ])
    expect(view.attachments.map((a: { name: string; deleted: boolean }) => [a.name, a.deleted])).toEqual([['report.docx', false], ['sales.xlsx', false]])
    const list = await (await fetch(`${cabinet.url}/api/chat/conversations?limit=2`, { headers: auth(alice) })).json()
    expect(list.conversations.map((c: { conversation_id: string }) => c.conversation_id)).toEqual([other.conversation_id, first.conversation_id])
    expect(list.next_cursor).toEqual(expect.any(String))
  })

  it('a deleted file stays in the conversation, shown as deleted, and a follow-up no longer sends it', async () => {
    const notes = await upload(alice, 'notes.md', Buffer.from('# Notes\n\nShip it on Friday.\n'))
    const first = (await (await chat(alice, { message: 'Read my notes', attachments: [{ file_id: notes }, { file_id: files.photo }] })).json()) as ChatJson
    expect(responsesParts(agent.last).find((part) => part.filename === 'notes.md')?.text).toBe('# Notes\n\nShip it on Friday.\n')
    expect((await fetch(`${cabinet.url}/api/files/${notes}`, { method: 'DELETE', headers: auth(alice) })).status).toBe(204)
    const followUp = (await (await chat(alice, { message: 'What did they say?', conversation_id: first.conversation_id })).json()) as ChatJson
    expect(followUp.attachments.map((a) => [a.name, a.sent_as, a.deleted])).toEqual([['photo.png', 'image', false], ['notes.md', 'none', true]])
    const parts = responsesParts(agent.last)
    expect(parts.some((part) => part.filename === 'notes.md')).toBe(false)
    expect(parts[1]!.text).toContain('notes.md (file_id')
    expect(parts[1]!.text).toContain('Deleted since it was attached: no longer sent.')
    const view = await (await fetch(`${cabinet.url}/api/chat/conversations/${first.conversation_id}`, { headers: auth(alice) })).json()
    expect(view.attachments.map((a: { name: string; deleted: boolean }) => [a.name, a.deleted])).toEqual([['notes.md', true], ['photo.png', false]])
  })

  it('streams the reply as Server-Sent Events end to end, and stores it', async () => {
    agent.next({ kind: 'reply', text: 'The report says revenue grew 12%.' })
    const response = await chat(alice, { message: 'Stream it', attachments: [{ file_id: files.docx }], stream: true })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    // A stream is written by hand, yet carries the same security headers as every answer.
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    const received = await events(response)
    expect(received.map((e) => e.event)).toEqual(['start', 'delta', 'delta', 'delta', 'done'])
    const [start, ...rest] = received
    expect(start!.data).toMatchObject({ from_agent: true, attachments: [{ name: 'report.docx', sent_as: 'text' }] })
    expect(rest.slice(0, 3).map((e) => e.data.text).join('')).toBe('The report says revenue grew 12%.')
    expect(rest[3]!.data).toEqual({ conversation_id: start!.data.conversation_id, reply: 'The report says revenue grew 12%.' })
    expect(agent.last.body.stream).toBe(true)
    expect(agent.last.headers.accept).toBe('text/event-stream')
    const view = await (await fetch(`${cabinet.url}/api/chat/conversations/${start!.data.conversation_id}`, { headers: auth(alice) })).json()
    expect(view.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'The report says revenue grew 12%.' })
  })

  it('keeps within the limits: a big image is downsized, long text is cut and says so', async () => {
    // Noise does not compress: a 1200 × 1200 PNG of it is about 4 MB.
    const noise = await sharp(randomBytes(1200 * 1200 * 3), { raw: { width: 1200, height: 1200, channels: 3 } }).png().toBuffer()
    const big = await upload(alice, 'noise.png', noise)
    const long = await upload(alice, 'long.txt', Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i} of the long file`).join('\n')))
    const body = (await (await chat(alice, { message: 'Look', attachments: [{ file_id: big }, { file_id: long }, { file_id: files.docx }] })).json()) as ChatJson
    expect(body.attachments.map((a) => [a.name, a.sent_as, a.reduced])).toEqual([['noise.png', 'image', true], ['long.txt', 'text', true], ['report.docx', 'text', false]])
    expect(body.attachments[0]!.note).toMatch(/Downsized to \d+ × \d+ pixels/)
    const parts = responsesParts(agent.last)
    const image = parts.find((part) => part.type === 'input_image')!
    expect(image.mediaType).toBe('image/jpeg')
    expect(image.bytes!.length).toBeLessThanOrEqual(300_000)
    const meta = await sharp(image.bytes!).metadata()
    expect(Math.max(meta.width, meta.height)).toBeLessThan(1200)
    const text = parts.find((part) => part.filename === 'long.txt')!.text!
    const docx = parts.find((part) => part.filename === 'report.docx.md')!.text!
    // The budget of 20,000 characters is shared: the short file whole, the long one cut, with a note.
    expect(text.length + docx.length).toBeLessThanOrEqual(20_000 + 300)
    expect(text.startsWith('line 0 of the long file\nline 1 of')).toBe(true)
    expect(text).toMatch(/\[Cabinet: kept the first [\d,]+ of [\d,]+ characters, to fit the chat's text budget\]$/)
    expect(body.attachments[1]!.note).toContain('cut to fit')
  })

  it('sends a PDF without text (a scan) as the PDF itself, for the agent to read', async () => {
    const scan = await latinPdf([[], []])
    const id = await upload(alice, 'scan.pdf', scan)
    const body = (await (await chat(alice, { message: 'What does the scan say?', attachments: [{ file_id: id }] })).json()) as ChatJson
    expect(body.attachments[0]).toMatchObject({ name: 'scan.pdf', sent_as: 'document' })
    const pdf = responsesParts(agent.last).find((part) => part.type === 'input_file')!
    expect(pdf).toMatchObject({ mediaType: 'application/pdf', filename: 'scan.pdf' })
    expect(pdf.bytes).toEqual(scan)
  })

  it('says so when a file could not be read, instead of sending nothing', async () => {
    const bomb = await upload(alice, 'bomb.docx', zipBombDocx(64 * 1024 * 1024))
    const body = (await (await chat(alice, { message: 'What is in it?', attachments: [{ file_id: bomb }] })).json()) as ChatJson
    expect(body.attachments[0]).toMatchObject({ name: 'bomb.docx', sent_as: 'none' })
    expect(body.attachments[0]!.note).toContain('Cabinet could not read it: The file decompresses to more than the limit of 8388608 bytes')
    const parts = responsesParts(agent.last)
    expect(parts.filter((part) => part.type !== 'text')).toEqual([])
    expect(parts[1]!.text).toContain('Cabinet could not read it')
  })

  it('refuses a message that is empty or too long and too many attachments, with clear errors', async () => {
    const before = agent.requests.length
    const tooLong = await chat(alice, { message: 'x'.repeat(2001) })
    expect(tooLong.status).toBe(413)
    expect(await tooLong.json()).toEqual({ error: 'The message is longer than the limit of 2000 characters', code: 'MESSAGE_TOO_LONG' })
    const empty = await chat(alice, { message: '  ' })
    expect(empty.status).toBe(400)
    expect((await empty.json()).code).toBe('BAD_REQUEST')
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(alice, `n${i}.txt`, Buffer.from(`note ${i}`))))
    const many = await chat(alice, { message: 'all of them', attachments: ids.map((file_id) => ({ file_id })) })
    expect(many.status).toBe(400)
    expect(await many.json()).toEqual({ error: 'At most 7 files may be attached to a conversation; this message names 8', code: 'TOO_MANY_ATTACHMENTS' })
    const first = (await (await chat(alice, { message: 'some', attachments: ids.slice(0, 5).map((file_id) => ({ file_id })) })).json()) as ChatJson
    const more = await chat(alice, { message: 'more', conversation_id: first.conversation_id, attachments: ids.slice(5).map((file_id) => ({ file_id })) })
    expect(more.status).toBe(400)
    expect((await more.json()).code).toBe('TOO_MANY_ATTACHMENTS')
    expect(agent.requests.length).toBe(before + 1)
  })

  it('turns an upstream 500 into 502 AGENT_UNAVAILABLE and a hang into 504 AGENT_TIMEOUT in bounded time; neither turn is stored', async () => {
    const first = (await (await chat(alice, { message: 'start' })).json()) as ChatJson
    agent.next({ kind: 'status', status: 500 })
    const failed = await chat(alice, { message: 'again', conversation_id: first.conversation_id })
    expect(failed.status).toBe(502)
    expect(await failed.json()).toEqual({ error: 'The AI agent is unavailable: it answered HTTP 500', code: 'AGENT_UNAVAILABLE' })
    agent.next({ kind: 'status', status: 401 })
    const refused = await chat(alice, { message: 'again', conversation_id: first.conversation_id })
    expect((await refused.json()).error).toBe("The AI agent is unavailable: it refused Cabinet's credentials (HTTP 401); check CABINET_AGENT_TOKEN")
    agent.next({ kind: 'hang' })
    const started = Date.now()
    const hung = await chat(alice, { message: 'again', conversation_id: first.conversation_id, stream: true })
    expect(Date.now() - started).toBeLessThan(5000)
    expect(hung.status).toBe(504)
    expect(await hung.json()).toEqual({ error: 'The AI agent did not answer within 1500 ms; retry', code: 'AGENT_TIMEOUT' })
    const view = await (await fetch(`${cabinet.url}/api/chat/conversations/${first.conversation_id}`, { headers: auth(alice) })).json()
    expect(view.message_count).toBe(2)
  })

  it('ends the client\'s stream with an error event when the agent\'s stream is cut, and stores nothing', async () => {
    agent.next({ kind: 'cut', pieces: ['Half a ', 'sentence'] })
    const response = await chat(alice, { message: 'Tell me everything', stream: true })
    const received = await events(response)
    expect(received.map((e) => e.event)).toEqual(['start', 'delta', 'delta', 'error'])
    expect(received.at(-1)!.data).toEqual({ error: 'The AI agent is unavailable: its reply broke off before the end', code: 'AGENT_UNAVAILABLE' })
    const id = received[0]!.data.conversation_id
    expect((await fetch(`${cabinet.url}/api/chat/conversations/${id}`, { headers: auth(alice) })).status).toBe(404)
    // A stream that stalls ends the same way, with AGENT_TIMEOUT.
    agent.next({ kind: 'slow', pieces: 2, everyMs: 4000 })
    const stalled = await events(await chat(alice, { message: 'Slowly', stream: true }))
    expect(stalled.at(-1)).toEqual({ event: 'error', data: { error: 'The AI agent did not answer within 1500 ms; retry', code: 'AGENT_TIMEOUT' } })
  })

  it('cancels the agent\'s request when the client goes away mid-stream', async () => {
    agent.next({ kind: 'slow', pieces: 50, everyMs: 200 })
    const controller = new AbortController()
    const response = await fetch(`${cabinet.url}/api/chat`, {
      method: 'POST',
      headers: auth(alice, { 'content-type': 'application/json' }),
      body: JSON.stringify({ message: 'A long answer please', stream: true }),
      signal: controller.signal,
    })
    const reader = response.body!.getReader()
    let seen = ''
    while (!seen.includes('event: delta')) seen += new TextDecoder().decode((await reader.read()).value)
    const upstream = agent.last
    controller.abort()
    const deadline = Date.now() + 3000
    while (!upstream.closedEarly && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(upstream.closedEarly).toBe(true)
  })

  it('lets an API key with the chat scope chat about files it may read; a key without it gets 403', async () => {
    const chatter = await newKey(['chat', 'files:read', 'files:write'])
    const own = await upload(chatter.key, 'key-notes.txt', Buffer.from('the key\'s own notes'))
    const ok = await chat(chatter.key, { message: 'Read it', attachments: [{ file_id: own }] })
    expect(ok.status).toBe(200)
    expect(agent.last.body.user).toBe(`cabinet:key:${chatter.id}:${((await ok.json()) as ChatJson).conversation_id}`)
    expect(responsesParts(agent.last).find((part) => part.filename === 'key-notes.txt')?.text).toBe('the key\'s own notes')
    expect((await chat(chatter.key, { message: 'Read hers', attachments: [{ file_id: files.docx }] })).status).toBe(404)
    const reader = await newKey(['files:read'])
    const refused = await chat(reader.key, { message: 'hi' })
    expect(refused.status).toBe(403)
    expect(await refused.json()).toEqual({ error: 'This API key lacks the chat scope', code: 'SCOPE_MISSING' })
  })

  it('shows an API key the same for a file whose grant ended and for one its owner deleted', async () => {
    const name = `chatter-${randomBytes(3).toString('hex')}`
    const chatter = await newKey(['chat', 'files:read'], name)
    const kept = await upload(alice, 'kept.md', Buffer.from('# Kept\n'))
    const removed = await upload(alice, 'removed.md', Buffer.from('# Removed\n'))
    const grants: Record<string, string> = {}
    for (const id of [kept, removed]) {
      const granted = await fetch(`${cabinet.url}/api/files/${id}/grants`, {
        method: 'POST',
        headers: auth(alice, { 'content-type': 'application/json' }),
        body: JSON.stringify({ key: name, ttl: 3600 }),
      })
      expect(granted.status).toBe(201)
      grants[id] = ((await granted.json()) as { grant_id: string }).grant_id
    }
    const first = (await (await chat(chatter.key, { message: 'Read both', attachments: [{ file_id: kept }, { file_id: removed }] })).json()) as ChatJson
    expect(first.attachments.map((a) => [a.name, a.sent_as])).toEqual([['kept.md', 'text'], ['removed.md', 'text']])

    // One grant is revoked while its file stays; the other file is deleted by its owner.
    expect((await fetch(`${cabinet.url}/api/files/${kept}/grants/${grants[kept]}`, { method: 'DELETE', headers: auth(alice) })).status).toBe(204)
    expect((await fetch(`${cabinet.url}/api/files/${removed}`, { method: 'DELETE', headers: auth(alice) })).status).toBe(204)

    const followUp = (await (await chat(chatter.key, { message: 'And now?', conversation_id: first.conversation_id })).json()) as ChatJson
    const gone = { sent_as: 'none', deleted: false, note: 'No longer readable by this caller: not sent.' }
    expect(followUp.attachments.map(({ name, sent_as, deleted, note }) => ({ name, sent_as, deleted, note }))).toEqual([
      { name: 'kept.md', ...gone },
      { name: 'removed.md', ...gone },
    ])
    const view = await (await fetch(`${cabinet.url}/api/chat/conversations/${first.conversation_id}`, { headers: auth(chatter.key) })).json()
    expect(view.attachments.map((a: { name: string; deleted: boolean }) => [a.name, a.deleted])).toEqual([['kept.md', true], ['removed.md', true]])
    // The owner still sees her own file as there.
    expect((await fetch(`${cabinet.url}/api/files/${kept}/meta`, { headers: auth(alice) })).status).toBe(200)
  })

  it('grants the attached files to the agent\'s own key, and nothing else of the user\'s', async () => {
    const attached = await upload(alice, 'for-agent.txt', Buffer.from('for the agent'))
    const other = await upload(alice, 'not-for-agent.txt', Buffer.from('private'))
    expect((await fetch(`${cabinet.url}/api/files/${attached}`, { headers: auth(agentKey.key) })).status).toBe(404)
    await chat(alice, { message: 'Use your tools', attachments: [{ file_id: attached }] })
    const download = await fetch(`${cabinet.url}/api/files/${attached}`, { headers: auth(agentKey.key) })
    expect(download.status).toBe(200)
    expect(await download.text()).toBe('for the agent')
    expect((await fetch(`${cabinet.url}/api/files/${other}`, { headers: auth(agentKey.key) })).status).toBe(404)
    const entries = await cabinet.server.services.audit.list({ fileId: attached, limit: 10 })
    expect(entries.map((e) => [e.action, e.userId ?? null, e.keyId])).toContainEqual(['chat.attach', 'alice', agentKey.id])
    // A second chat about it within the grant's life grants nothing more.
    await chat(alice, { message: 'Again', attachments: [{ file_id: attached }] })
    expect((await cabinet.server.services.audit.list({ fileId: attached, limit: 10 })).filter((e) => e.action === 'chat.attach')).toHaveLength(1)
  })

  it('never shows the agent\'s token to a client or writes it to the log', () => {
    expect(exposed.length).toBeGreaterThan(10)
    expect(exposed.join('\n')).not.toContain(agent.token)
    expect(logs.length).toBeGreaterThan(10)
    expect(logs.join('')).not.toContain(agent.token)
    expect(logs.join('')).toContain('the agent refused a chat')
  })
})

describe('POST /api/chat with an OpenAI Chat Completions agent, and with no agent at all', () => {
  let agent: AgentStandIn
  let backend: TestBackend
  let completions: TestServer
  let standalone: TestServer
  let docx: { id: string; size: number }
  let png: { id: string; bytes: Buffer }
  const tokens: Record<string, string> = {}

  const chat = (server: TestServer, body: Record<string, unknown>) =>
    fetch(`${server.url}/api/chat`, { method: 'POST', headers: auth(tokens[server.url]!, { 'content-type': 'application/json' }), body: JSON.stringify(body) })

  beforeAll(async () => {
    agent = await AgentStandIn.start()
    backend = await openTestBackend()
    completions = await startTestServer(
      { CABINET_ALLOWED_TYPES: ALL_TYPES, CABINET_AGENT_URL: agent.url, CABINET_AGENT_TOKEN: agent.token, CABINET_AGENT_PROTOCOL: 'chat-completions', CABINET_AGENT_MODEL: 'gpt-test' },
      backend,
    )
    standalone = await startTestServer({ CABINET_ALLOWED_TYPES: ALL_TYPES }, backend)
    for (const server of [completions, standalone]) tokens[server.url] = await server.token('carol')
    const docxBytes = await reportDocx()
    const uploaded = await (await uploadFile(completions.url, { token: tokens[completions.url]!, name: 'report.docx', bytes: docxBytes })).json()
    docx = { id: uploaded.file_id, size: uploaded.size }
    const pngBytes = await plainPng(40, 30)
    png = { id: (await (await uploadFile(completions.url, { token: tokens[completions.url]!, name: 'photo.png', bytes: pngBytes })).json()).file_id, bytes: pngBytes }
  })
  afterAll(async () => {
    await standalone.stop()
    await completions.stop()
    await backend.cleanup()
    await agent.close()
  })

  it('sends text parts (each file\'s in a <file> element) and image_url data URLs, and reads the reply', async () => {
    const response = await chat(completions, { message: 'Describe these', attachments: [{ file_id: docx.id }, { file_id: png.id }] })
    expect(response.status).toBe(200)
    const body = (await response.json()) as ChatJson
    expect(body.reply).toMatch(/^Received \d+ bytes\.$/)
    const request = agent.last
    expect(request.path).toBe('/v1/chat/completions')
    expect(request.headers.authorization).toBe(`Bearer ${agent.token}`)
    expect(request.body).toMatchObject({ model: 'gpt-test', stream: false, user: `cabinet:carol:${body.conversation_id}` })
    const messages = request.body.messages as Array<{ role: string; content: Array<{ type: string; text: string }> }>
    expect(messages).toHaveLength(1)
    const [message, note, file, image] = messages[0]!.content
    expect(message).toEqual({ type: 'text', text: 'Describe these' })
    expect(note!.text).toContain('[Cabinet] Files attached to this conversation:')
    expect(file!.text).toMatch(new RegExp(`^<file name="report.docx.md" file_id="${docx.id}">\n# 季度报告 Q3\n`))
    expect(file!.text.endsWith('\n</file>')).toBe(true)
    expect(image).toEqual({ type: 'image_url', image_url: { url: `data:image/png;base64,${png.bytes.toString('base64')}` } })
  })

  it('streams: Chat Completions chunks become Cabinet\'s delta events, and a follow-up carries the history', async () => {
    agent.next({ kind: 'reply', text: 'A red rectangle.' })
    const received = await events(await chat(completions, { message: 'And the photo?', attachments: [{ file_id: png.id }], stream: true }))
    expect(received.map((e) => e.event)).toEqual(['start', 'delta', 'delta', 'delta', 'done'])
    expect(received.at(-1)!.data.reply).toBe('A red rectangle.')
    const conversation = received[0]!.data.conversation_id
    await chat(completions, { message: 'Thanks', conversation_id: conversation })
    const messages = agent.last.body.messages as Array<{ role: string; content: unknown }>
    expect(messages.slice(0, 2)).toEqual([
      { role: 'user', content: 'And the photo?' },
      { role: 'assistant', content: 'A red rectangle.' },
    ])
  })

  it('without an agent, answers from Cabinet\'s own extraction, deterministically and saying so', async () => {
    const before = agent.requests.length
    const response = await chat(standalone, { message: 'What are these?', attachments: [{ file_id: docx.id }, { file_id: png.id }] })
    expect(response.status).toBe(200)
    const body = (await response.json()) as ChatJson
    expect(body.from_agent).toBe(false)
    const words = (await (await fetch(`${standalone.url}/api/files/${docx.id}/text`, { headers: auth(tokens[standalone.url]!) })).json()).word_count
    expect(body.reply).toBe(
      [
        "No AI agent is configured on this Cabinet server (CABINET_AGENT_URL), so this answer comes from Cabinet's own reading of the files.",
        '',
        `1. report.docx: Word document (DOCX), ${formatBytes(docx.size)}, ${words} words.`,
        '   Opens with:',
        '   > # 季度报告 Q3',
        '   > Revenue grew **12%** this quarter.',
        '   > ## Highlights',
        `2. photo.png: PNG image, ${formatBytes(png.bytes.length)}, 40 × 30 pixels.`,
      ].join('\n'),
    )
    const again = (await (await chat(standalone, { message: 'Once more', conversation_id: body.conversation_id, stream: true })).text())
    expect(again).toContain('event: done')
    expect(again).toContain('"from_agent":false')
    expect(agent.requests.length).toBe(before)
  })
})

describe('POST /api/chat with an agent that refuses before reading the request', () => {
  let cabinet: TestServer
  let agent: Server
  /** Each connection to the agent: the body length Cabinet declared, the bytes that arrived, and when it closed. */
  const connections: Array<{ declared: number; received: number; closedAt?: number }> = []

  beforeAll(async () => {
    // Answers 413 at the first bytes and stops reading, so the body backs up in Cabinet; reads again
    // (counting) a moment later, so the connection's end can arrive.
    agent = createServer((socket) => {
      const connection: { declared: number; received: number; closedAt?: number } = { declared: 0, received: 0 }
      connections.push(connection)
      socket.once('data', (first: Buffer) => {
        socket.pause()
        const head = first.toString('latin1')
        connection.declared = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? NaN)
        connection.received = first.length - (head.indexOf('\r\n\r\n') + 4)
        socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}')
        setTimeout(() => {
          socket.on('data', (chunk: Buffer) => (connection.received += chunk.length))
          socket.resume()
        }, 300)
      })
      socket.on('close', () => (connection.closedAt = Date.now()))
      socket.on('error', () => {})
    })
    agent.listen(0, '127.0.0.1')
    await once(agent, 'listening')
    cabinet = await startTestServer({
      CABINET_ALLOWED_TYPES: 'png',
      CABINET_MAX_FILE_BYTES: String(32 * 1024 * 1024),
      CABINET_AGENT_URL: `http://127.0.0.1:${(agent.address() as AddressInfo).port}`,
      CABINET_AGENT_TIMEOUT_MS: '1500',
      CABINET_CHAT_MAX_IMAGE_BYTES: String(30 * 1024 * 1024),
      CABINET_CHAT_MAX_BODY_BYTES: String(60 * 1024 * 1024),
    })
  })
  afterAll(async () => {
    await cabinet.stop()
    agent.close()
  })

  it('answers 502 and lets go of the connection and the file it was sending', async () => {
    const token = await cabinet.token('alice')
    // Noise does not compress: about 20 MB of PNG, far more than the sockets between them hold.
    const noise = await sharp(randomBytes(2600 * 2600 * 3), { raw: { width: 2600, height: 2600, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer()
    const upload = await uploadFile(cabinet.url, { token, name: 'noise.png', bytes: noise })
    expect(upload.status).toBe(200)
    const { file_id } = (await upload.json()) as { file_id: string }
    const response = await fetch(`${cabinet.url}/api/chat`, {
      method: 'POST',
      headers: auth(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ message: 'look', attachments: [{ file_id }] }),
    })
    expect(response.status).toBe(502)
    expect(await response.json()).toEqual({ error: 'The AI agent is unavailable: it answered HTTP 413', code: 'AGENT_UNAVAILABLE' })
    // Cabinet stopped sending and closed the connection: the rest of the file never went out.
    await eventually(() => {
      expect(connections).toHaveLength(1)
      expect(connections[0]!.closedAt).toBeDefined()
    }, 5000)
    expect(connections[0]!.declared).toBeGreaterThan(20_000_000)
    expect(connections[0]!.received).toBeLessThan(connections[0]!.declared)
  })
})
