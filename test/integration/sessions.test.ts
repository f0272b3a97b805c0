import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startServeProcess } from '../helpers/process.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { openTestBackend } from '../helpers/test-backend.js'

async function devSignIn(url: string, userId: string): Promise<Response> {
  return fetch(`${url}/api/auth/dev`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: userId }) })
}

describe('sessions with dev sign-in on (CABINET_DEV_LOGIN=1)', () => {
  let cabinet: TestServer

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_DEV_LOGIN: '1', CABINET_SESSION_TTL_SECONDS: '2' })
  })
  afterAll(() => cabinet.stop())

  it('signs in as the given user with a token that expires after the session lifetime', async () => {
    const response = await devSignIn(cabinet.url, 'tester')
    expect(response.status).toBe(200)
    const session = await response.json()
    expect(session).toEqual({ token: expect.stringMatching(/^cab_/), expires_at: expect.any(String), user_id: 'tester' })
    expect(Date.parse(session.expires_at) - Date.now()).toBeLessThanOrEqual(2000)
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(session.token) })).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, Date.parse(session.expires_at) - Date.now() + 50))
    const expired = await fetch(`${cabinet.url}/api/files`, { headers: auth(session.token) })
    expect(expired.status).toBe(401)
    expect((await expired.json()).code).toBe('UNAUTHORIZED')
  })

  it('logout revokes the token at once; other sessions of the user go on', async () => {
    const first = await (await devSignIn(cabinet.url, 'leaver')).json()
    const second = await (await devSignIn(cabinet.url, 'leaver')).json()
    const out = await fetch(`${cabinet.url}/api/auth/logout`, { method: 'POST', headers: auth(first.token) })
    expect(out.status).toBe(204)
    expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(first.token) })).status).toBe(401)
    expect((await fetch(`${cabinet.url}/api/auth/logout`, { method: 'POST', headers: auth(first.token) })).status).toBe(401)
    expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(second.token) })).status).toBe(200)
  })

  it('refuses user ids that are malformed or an API key\'s space', async () => {
    for (const userId of ['../root', 'key:0123456789abcdef', '']) {
      const response = await devSignIn(cabinet.url, userId)
      expect(response.status).toBe(400)
      expect((await response.json()).code).toBe('BAD_REQUEST')
    }
  })

  it('GET /api/me tells the user id, usage and quota', async () => {
    const session = await (await devSignIn(cabinet.url, 'measured')).json()
    const empty = await (await fetch(`${cabinet.url}/api/me`, { headers: auth(session.token) })).json()
    expect(empty).toEqual({
      user_id: 'measured',
      via: 'token',
      admin: false,
      usage: { bytes: 0, files: 0 },
      quota: { max_bytes: 1024 * 1024 * 1024, max_files: 10_000 },
    })
    const bytes = pngBytes(1000)
    await uploadFile(cabinet.url, { token: session.token, name: 'a.png', bytes })
    const me = await (await fetch(`${cabinet.url}/api/me`, { headers: auth(session.token) })).json()
    expect(me.usage).toEqual({ bytes: bytes.length, files: 1 })
  })
})

describe('dev sign-in off (the default)', () => {
  let cabinet: TestServer
  beforeAll(async () => {
    cabinet = await startTestServer()
  })
  afterAll(() => cabinet.stop())

  it('answers 403 DEV_LOGIN_DISABLED and issues nothing', async () => {
    const response = await devSignIn(cabinet.url, 'alice')
    expect(response.status).toBe(403)
    expect((await response.json()).code).toBe('DEV_LOGIN_DISABLED')
    expect(await cabinet.server.services.tokens.list('alice')).toEqual([])
  })

  it('x-user-id alone gets nothing from any route', async () => {
    const headers = { 'x-user-id': 'alice' }
    const id = '0'.repeat(32)
    for (const [method, path] of [
      ['GET', '/api/me'],
      ['GET', '/api/files'],
      ['GET', `/api/files/${id}`],
      ['GET', `/api/files/${id}/grants`],
      ['POST', `/api/files/${id}/grants`],
      ['POST', '/api/auth/logout'],
    ] as const) {
      const response = await fetch(`${cabinet.url}${path}`, { method, headers })
      expect(response.status, `${method} ${path}`).toBe(401)
    }
  })

  it('tokens from cabinet token create keep working, and their users can sign out too', async () => {
    const token = await cabinet.token('cli-user')
    expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(token) })).status).toBe(200)
    expect((await fetch(`${cabinet.url}/api/auth/logout`, { method: 'POST', headers: auth(token) })).status).toBe(204)
    expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(token) })).status).toBe(401)
  })
})

describe('cabinet serve with CABINET_DEV_LOGIN=1', () => {
  it('warns loudly at start', async () => {
    const backend = await openTestBackend()
    const server = await startServeProcess({ ...backend.env, CABINET_DEV_LOGIN: '1' })
    try {
      const warning = server.output().split('\n').find((line) => line.includes('DEV SIGN-IN IS ON'))
      expect(warning).toBeDefined()
      expect(JSON.parse(warning!).level).toBe(40)
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
      await backend.cleanup()
    }
  })
})
