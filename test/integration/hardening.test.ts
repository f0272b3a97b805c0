import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

/** A raw request, for heads that fetch() refuses to send. */
function rawStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${url}/api/files`, { headers }, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    request.on('error', reject)
    request.end()
  })
}

describe('hardening', () => {
  let cabinet: TestServer
  let token: string
  let fileId: string

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_DEV_LOGIN: '1' })
    token = await cabinet.token('alice')
    fileId = (await (await uploadFile(cabinet.url, { token, name: 'a.png', bytes: pngBytes() })).json()).file_id
  })
  afterAll(() => cabinet.stop())

  it('sends helmet\'s security headers on API answers, downloads and errors', async () => {
    for (const response of [
      await fetch(`${cabinet.url}/api/files`, { headers: auth(token) }),
      await fetch(`${cabinet.url}/api/files/${fileId}`, { headers: auth(token) }),
      await fetch(`${cabinet.url}/api/files/${'0'.repeat(32)}`, { headers: auth(token) }),
      await fetch(`${cabinet.url}/api/nowhere`),
    ]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff')
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
      expect(response.headers.get('content-security-policy')).not.toContain('upgrade-insecure-requests')
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN')
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/)
      expect(response.headers.get('referrer-policy')).toBe('no-referrer')
      // Signed links must load in <image src> wherever they are embedded.
      expect(response.headers.get('cross-origin-resource-policy')).toBe('cross-origin')
      expect(response.headers.get('x-powered-by')).toBeNull()
    }
    const docs = await fetch(`${cabinet.url}/docs/`)
    expect(docs.status).toBe(200)
  })

  it('CORS is off by default: a browser preflight gets no allowance', async () => {
    const preflight = await fetch(`${cabinet.url}/api/files`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    })
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull()
    const simple = await fetch(`${cabinet.url}/api/files`, { headers: auth(token, { origin: 'https://evil.example' }) })
    expect(simple.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('answers requests Node cannot parse with Cabinet\'s JSON error too, then closes the connection', async () => {
    /** Everything the server answers to `bytes`, sent as they are on a fresh connection. */
    const exchange = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(cabinet.url).port), '127.0.0.1', () => socket.write(bytes))
        let answer = ''
        socket.setEncoding('utf8')
        socket.on('data', (chunk: string) => (answer += chunk))
        socket.on('end', () => resolve(answer))
        socket.on('error', reject)
      })
    const malformed = await exchange('GET /api/files HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')
    expect(malformed).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(malformed).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/)
    expect(JSON.parse(malformed.split('\r\n\r\n')[1]!)).toEqual({ error: 'Malformed HTTP request', code: 'BAD_REQUEST' })
    const oversized = await exchange(`GET /api/files HTTP/1.1\r\nHost: x\r\nx-padding: ${'a'.repeat(20 * 1024)}\r\n\r\n`)
    expect(oversized).toMatch(/^HTTP\/1\.1 431 /)
    expect(JSON.parse(oversized.split('\r\n\r\n')[1]!)).toEqual({ error: 'The request head is over the limit of 16384 bytes', code: 'HEADERS_TOO_LARGE' })
    expect((await fetch(`${cabinet.url}/healthz`)).status).toBe(200)
  })

  it('refuses a request head over 16 KiB (431) and a sign-in body over 4 KiB (413 BODY_TOO_LARGE)', async () => {
    expect(await rawStatus(cabinet.url, { authorization: `Bearer ${token}`, 'x-padding': 'a'.repeat(20 * 1024) })).toBe(431)
    const big = await fetch(`${cabinet.url}/api/auth/dev`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'alice', padding: 'x'.repeat(5000) }),
    })
    expect(big.status).toBe(413)
    expect((await big.json()).code).toBe('BODY_TOO_LARGE')
  })

  it('refuses an API key whose secret differs in its last character', async () => {
    const issued = await cabinet.server.services.keys.issue({ name: 'near-miss', scopes: ['files:read'] })
    const flipped = issued.key.slice(0, -1) + (issued.key.endsWith('A') ? 'B' : 'A')
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(flipped) })).status).toBe(401)
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(issued.key) })).status).toBe(200)
  })
})

describe('CORS, when configured', () => {
  let cabinet: TestServer
  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_CORS_ORIGINS: 'https://admin.example.com' })
  })
  afterAll(() => cabinet.stop())

  it('allows exactly the listed origins', async () => {
    const allowed = await fetch(`${cabinet.url}/api/files`, {
      method: 'OPTIONS',
      headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    })
    expect(allowed.status).toBe(204)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://admin.example.com')
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization')
    const other = await fetch(`${cabinet.url}/api/files`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('allows every method the API has, PATCH (pin, unpin) included', async () => {
    const preflight = await fetch(`${cabinet.url}/api/files/0123456789abcdef0123456789abcdef`, {
      method: 'OPTIONS',
      headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization,content-type' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-methods')?.split(/,\s*/).sort()).toEqual(['DELETE', 'GET', 'HEAD', 'PATCH', 'POST'])
  })
})
