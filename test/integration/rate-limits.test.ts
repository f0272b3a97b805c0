import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

async function devSignIn(url: string, userId: string): Promise<Response> {
  return fetch(`${url}/api/auth/dev`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: userId }) })
}

async function expectRateLimited(response: Response, windowSeconds: number, what: RegExp): Promise<void> {
  expect(response.status).toBe(429)
  const retryAfter = Number(response.headers.get('retry-after'))
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds)
  const body = await response.json()
  expect(body.code).toBe('RATE_LIMITED')
  expect(body.error).toMatch(what)
}

describe('rate limits', () => {
  let cabinet: TestServer

  beforeAll(async () => {
    cabinet = await startTestServer({
      CABINET_DEV_LOGIN: '1',
      CABINET_RATE_LIMIT_WINDOW_SECONDS: '60',
      CABINET_RATE_LIMIT_UPLOADS_PER_USER: '2',
      CABINET_RATE_LIMIT_UPLOADS_PER_IP: '0',
      CABINET_RATE_LIMIT_DOWNLOADS_PER_USER: '0',
      CABINET_RATE_LIMIT_DOWNLOADS_PER_IP: '4',
      CABINET_RATE_LIMIT_LOGINS_PER_IP: '3',
      CABINET_RATE_LIMIT_CHATS_PER_USER: '2',
      CABINET_RATE_LIMIT_REQUESTS_PER_USER: '5',
      CABINET_RATE_LIMIT_REQUESTS_PER_IP: '0',
    })
  })
  afterAll(() => cabinet.stop())

  it('uploads: per user, 429 RATE_LIMITED with Retry-After once over; nothing stored; other users unaffected', async () => {
    const alice = await cabinet.token('alice')
    const bob = await cabinet.token('bob')
    expect((await uploadFile(cabinet.url, { token: alice, name: '1.png', bytes: pngBytes() })).status).toBe(200)
    expect((await uploadFile(cabinet.url, { token: alice, name: '2.png', bytes: pngBytes() })).status).toBe(200)
    const before = await cabinet.storedPaths()
    await expectRateLimited(await uploadFile(cabinet.url, { token: alice, name: '3.png', bytes: pngBytes() }), 60, /Too many uploads for this user: at most 2 per 1 min/)
    expect(await cabinet.storedPaths()).toEqual(before)
    expect((await uploadFile(cabinet.url, { token: bob, name: '1.png', bytes: pngBytes() })).status).toBe(200)
  })

  it('downloads: per address, signed links included', async () => {
    const carol = await cabinet.token('carol')
    const { file_id } = await (await uploadFile(cabinet.url, { token: carol, name: 'c.png', bytes: pngBytes() })).json()
    const { url } = await (await fetch(`${cabinet.url}/api/files/${file_id}/url`, { method: 'POST', headers: auth(carol) })).json()
    for (let i = 0; i < 3; i++) expect((await fetch(`${cabinet.url}/api/files/${file_id}`, { headers: auth(carol) })).status).toBe(200)
    expect((await fetch(url)).status).toBe(200)
    await expectRateLimited(await fetch(url), 60, /Too many downloads from this address: at most 4 per 1 min/)
    await expectRateLimited(await fetch(`${cabinet.url}/api/files/${file_id}`, { headers: auth(carol) }), 60, /downloads/)
    // Other routes are not downloads.
    expect((await fetch(`${cabinet.url}/api/files/${file_id}/meta`, { headers: auth(carol) })).status).toBe(200)
  })

  it('chats: per user, each one an agent run; nothing stored for the refused one', async () => {
    const erin = await cabinet.token('erin')
    const chat = (token: string) =>
      fetch(`${cabinet.url}/api/chat`, { method: 'POST', headers: auth(token, { 'content-type': 'application/json' }), body: JSON.stringify({ message: 'hello' }) })
    for (let i = 0; i < 2; i++) expect((await chat(erin)).status).toBe(200)
    await expectRateLimited(await chat(erin), 60, /Too many chats for this user: at most 2 per 1 min/)
    const { conversations } = await (await fetch(`${cabinet.url}/api/chat/conversations`, { headers: auth(erin) })).json()
    expect(conversations).toHaveLength(2)
    expect((await chat(await cabinet.token('frank'))).status).toBe(200)
  })

  it('every other API request: per user, lists, metadata and MCP alike; health checks never', async () => {
    const gina = await cabinet.token('gina')
    const { file_id } = await (await uploadFile(cabinet.url, { token: gina, name: 'g.png', bytes: pngBytes() })).json()
    const requests = [
      () => fetch(`${cabinet.url}/api/files`, { headers: auth(gina) }),
      () => fetch(`${cabinet.url}/api/files/${file_id}/meta`, { headers: auth(gina) }),
      () => fetch(`${cabinet.url}/api/files/${file_id}/text`, { headers: auth(gina) }),
      () => fetch(`${cabinet.url}/api/me`, { headers: auth(gina) }),
      () => fetch(`${cabinet.url}/api/chat/conversations`, { headers: auth(gina) }),
    ]
    for (const request of requests) expect((await request()).status).toBeLessThan(429)
    await expectRateLimited(await fetch(`${cabinet.url}/api/files`, { headers: auth(gina) }), 60, /Too many requests for this user: at most 5 per 1 min/)
    const mcp = await fetch(`${cabinet.url}/mcp`, {
      method: 'POST',
      headers: auth(gina, { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    })
    await expectRateLimited(mcp, 60, /requests for this user/)
    // Deleting is not exempt either, and the file stays.
    await expectRateLimited(await fetch(`${cabinet.url}/api/files/${file_id}`, { method: 'DELETE', headers: auth(gina) }), 60, /requests/)
    expect((await cabinet.fileRows()).some((row) => row.id === file_id)).toBe(true)
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(await cabinet.token('hank')) })).status).toBe(200)
    for (let i = 0; i < 10; i++) expect((await fetch(`${cabinet.url}/healthz`)).status).toBe(200)
  })

  it('sign-ins: per address, before any token is issued', async () => {
    for (let i = 0; i < 3; i++) expect((await devSignIn(cabinet.url, `u${i}`)).status).toBe(200)
    await expectRateLimited(await devSignIn(cabinet.url, 'u9'), 60, /Too many logins from this address: at most 3 per 1 min/)
    expect(await cabinet.server.services.tokens.list('u9')).toEqual([])
  })
})

describe('rate limits: windows and switches', () => {
  it('every other API request per address, counted before the token is checked', async () => {
    const cabinet = await startTestServer({ CABINET_RATE_LIMIT_REQUESTS_PER_IP: '3' })
    try {
      for (let i = 0; i < 3; i++) expect((await fetch(`${cabinet.url}/api/files`, { headers: auth('not-a-token') })).status).toBe(401)
      await expectRateLimited(await fetch(`${cabinet.url}/api/files`, { headers: auth(await cabinet.token('ivy')) }), 60, /Too many requests from this address: at most 3 per 1 min/)
      expect((await fetch(`${cabinet.url}/readyz`)).status).toBe(200)
    } finally {
      await cabinet.stop()
    }
  })

  it('a window ends on time, and the defaults suit real traffic: 0 turns each limit off', async () => {
    const cabinet = await startTestServer({
      CABINET_RATE_LIMIT_WINDOW_SECONDS: '1',
      CABINET_RATE_LIMIT_UPLOADS_PER_USER: '1',
      CABINET_RATE_LIMIT_DOWNLOADS_PER_USER: '0',
      CABINET_RATE_LIMIT_DOWNLOADS_PER_IP: '0',
    })
    try {
      const token = await cabinet.token('dana')
      expect((await uploadFile(cabinet.url, { token, name: '1.png', bytes: pngBytes() })).status).toBe(200)
      const limited = await uploadFile(cabinet.url, { token, name: '2.png', bytes: pngBytes() })
      await expectRateLimited(limited, 1, /at most 1 per 1 s/)
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const { file_id } = await (await uploadFile(cabinet.url, { token, name: '3.png', bytes: pngBytes() })).json()
      expect(file_id).toMatch(/^[0-9a-f]{32}$/)
      // Downloads are off: many in a row all pass.
      const statuses = await Promise.all(Array.from({ length: 30 }, () => fetch(`${cabinet.url}/api/files/${file_id}`, { headers: auth(token) }).then((r) => r.status)))
      expect(new Set(statuses)).toEqual(new Set([200]))
    } finally {
      await cabinet.stop()
    }
  })
})
