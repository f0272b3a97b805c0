import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { auth, rawMultipart } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('GET and HEAD /api/files/:id', () => {
  let cabinet: TestServer
  let token: string
  const bytes = pdfBytes('0123456789'.repeat(50))
  let file: { file_id: string; sha256: string; uploaded_at: string }

  beforeAll(async () => {
    cabinet = await startTestServer()
    token = await cabinet.token('alice')
    const uploaded = await fetch(`${cabinet.url}/api/files/upload`, {
      method: 'POST',
      headers: auth(token, { 'content-type': 'multipart/form-data; boundary=b0undary' }),
      body: rawMultipart('b0undary', '报告 \\"final\\".pdf', bytes),
    })
    file = await uploaded.json()
  })
  afterAll(() => cabinet.stop())

  const get = (headers: Record<string, string> = {}, query = '') =>
    fetch(`${cabinet.url}/api/files/${file.file_id}${query}`, { headers: auth(token, headers) })

  it('streams the bytes with every header a client and cache need', async () => {
    const response = await get()
    expect(response.status).toBe(200)
    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes)
    expect(response.headers.get('content-type')).toBe('application/pdf')
    expect(response.headers.get('content-length')).toBe(String(bytes.length))
    expect(response.headers.get('etag')).toBe(`"${file.sha256}"`)
    expect(response.headers.get('last-modified')).toBe(new Date(file.uploaded_at).toUTCString())
    expect(response.headers.get('accept-ranges')).toBe('bytes')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="?? \\"final\\".pdf"; filename*=UTF-8''%E6%8A%A5%E5%91%8A%20%22final%22.pdf`,
    )
  })

  it('?inline=1 asks the browser to display it', async () => {
    const response = await get({}, '?inline=1')
    expect(response.headers.get('content-disposition')).toMatch(/^inline; filename=/)
  })

  it('HEAD answers the same headers without a body', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${file.file_id}`, { method: 'HEAD', headers: auth(token) })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-length')).toBe(String(bytes.length))
    expect(response.headers.get('etag')).toBe(`"${file.sha256}"`)
    expect((await response.arrayBuffer()).byteLength).toBe(0)
  })

  it.each([
    ['bytes=0-9', 0, 9],
    ['bytes=10-', 10, bytes.length - 1],
    ['bytes=-7', bytes.length - 7, bytes.length - 1],
    ['bytes=5-100000', 5, bytes.length - 1],
  ])('Range %s answers 206 with exactly those bytes', async (range, start, end) => {
    const response = await get({ range })
    expect(response.status).toBe(206)
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${bytes.length}`)
    expect(response.headers.get('content-length')).toBe(String(end - start + 1))
    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes.subarray(start, end + 1))
  })

  it('a range past the end answers 416 with the size', async () => {
    const response = await get({ range: `bytes=${bytes.length}-` })
    expect(response.status).toBe(416)
    expect(response.headers.get('content-range')).toBe(`bytes */${bytes.length}`)
    expect((await response.json()).code).toBe('RANGE_NOT_SATISFIABLE')
  })

  it('several ranges or a malformed one get the whole file', async () => {
    for (const range of ['bytes=0-1,4-5', 'bytes=abc', 'items=0-1']) {
      const response = await get({ range })
      expect(response.status).toBe(200)
      expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes)
    }
  })

  it('If-Range with another version ignores the range', async () => {
    const response = await get({ range: 'bytes=0-1', 'if-range': '"other"' })
    expect(response.status).toBe(200)
    const matching = await get({ range: 'bytes=0-1', 'if-range': `"${file.sha256}"` })
    expect(matching.status).toBe(206)
  })

  it('If-None-Match with the ETag answers 304 without a body', async () => {
    const response = await get({ 'if-none-match': `"${file.sha256}"` })
    expect(response.status).toBe(304)
    expect(response.headers.get('etag')).toBe(`"${file.sha256}"`)
    expect((await response.arrayBuffer()).byteLength).toBe(0)
    expect((await get({ 'if-none-match': '"stale"' })).status).toBe(200)
  })

  it('If-Modified-Since at or after the upload answers 304', async () => {
    const response = await get({ 'if-modified-since': new Date(Date.now() + 1000).toUTCString() })
    expect(response.status).toBe(304)
  })

  it.each([
    ['a Latin-1 name', 'café.png', `attachment; filename="caf?.png"; filename*=UTF-8''caf%C3%A9.png`],
    ['an emoji name', '\u{1f4f7}.png', `attachment; filename="?.png"; filename*=UTF-8''%F0%9F%93%B7.png`],
  ])('%s travels as UTF-8 in filename*, with an ASCII fallback', async (_label, name, expected) => {
    const uploaded = await fetch(`${cabinet.url}/api/files/upload`, {
      method: 'POST',
      headers: auth(token, { 'content-type': 'multipart/form-data; boundary=xx' }),
      body: rawMultipart('xx', name, pngBytes()),
    })
    const { file_id } = await uploaded.json()
    const response = await fetch(`${cabinet.url}/api/files/${file_id}`, { headers: auth(token) })
    expect(response.headers.get('content-disposition')).toBe(expected)
  })

  it('a path that is not valid percent-encoding answers 400 BAD_REQUEST in the JSON error shape', async () => {
    for (const path of ['/api/files/%zz', '/api/files/%ff/meta']) {
      const response = await fetch(`${cabinet.url}${path}`, { headers: auth(token) })
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({ error: 'Malformed URL: a path part is not valid percent-encoding', code: 'BAD_REQUEST' })
    }
  })

  it('control characters in a name are dropped and cannot reach a header', async () => {
    const uploaded = await fetch(`${cabinet.url}/api/files/upload`, {
      method: 'POST',
      headers: auth(token, { 'content-type': 'multipart/form-data; boundary=xx' }),
      body: rawMultipart('xx', 'a\u0001b\u000bc\u007f.png', pngBytes()),
    })
    expect(uploaded.status).toBe(200)
    const { file_id, original_name } = await uploaded.json()
    expect(original_name).toBe('abc.png')
    const response = await fetch(`${cabinet.url}/api/files/${file_id}`, { headers: auth(token) })
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="abc.png"')
  })

  it('GET /api/files/:id/meta describes the file', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${file.file_id}/meta`, { headers: auth(token) })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ file_id: file.file_id, original_name: '报告 "final".pdf', size: bytes.length })
  })
})
