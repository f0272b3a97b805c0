import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startServeProcess } from '../helpers/process.js'
import { startTestServer, type TestServer } from '../helpers/server.js'
import { openTestBackend } from '../helpers/test-backend.js'
import { WechatStandIn } from '../helpers/wechat-stand-in.js'

const TIMEOUT_MS = 500

function wechatEnv(standIn: WechatStandIn, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    CABINET_WECHAT_APPID: standIn.appId,
    CABINET_WECHAT_SECRET: standIn.secret,
    CABINET_WECHAT_API_BASE: standIn.url,
    CABINET_WECHAT_TIMEOUT_MS: String(TIMEOUT_MS),
    ...overrides,
  }
}

async function signIn(cabinet: { url: string }, code: string): Promise<Response> {
  return fetch(`${cabinet.url}/api/auth/wechat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })
}

describe('POST /api/auth/wechat against a WeChat stand-in', () => {
  let standIn: WechatStandIn
  let cabinet: TestServer

  beforeAll(async () => {
    standIn = await WechatStandIn.start()
    cabinet = await startTestServer(wechatEnv(standIn))
  })
  afterAll(async () => {
    await cabinet.stop()
    await standIn.close()
  })

  it('turns a wx.login code into a session for a stable Cabinet user, never the openid, and never returns the session_key', async () => {
    const before = Date.now()
    const response = await signIn(cabinet, standIn.login('oOpenid-alice'))
    expect(response.status).toBe(200)
    const text = await response.text()
    const body = JSON.parse(text)
    expect(body).toEqual({ token: expect.stringMatching(/^cab_/), expires_at: expect.any(String), user_id: expect.stringMatching(/^wx-[0-9a-f]{16}$/) })
    expect(text).not.toContain('oOpenid-alice')
    expect(text).not.toContain(standIn.sessionKeys.at(-1)!)
    expect(text).not.toContain('session_key')
    // The default session lasts 7 days.
    expect(Date.parse(body.expires_at) - before).toBeGreaterThan(7 * 86_400_000 - 60_000)
    expect(Date.parse(body.expires_at) - before).toBeLessThanOrEqual(7 * 86_400_000 + 60_000)

    const upload = await uploadFile(cabinet.url, { token: body.token, name: 'a.png', bytes: pngBytes() })
    expect(upload.status).toBe(200)
    const me = await (await fetch(`${cabinet.url}/api/me`, { headers: auth(body.token) })).json()
    expect(me).toMatchObject({ user_id: body.user_id, via: 'token', usage: { files: 1 } })

    // Signing in again (a new code for the same openid) is the same user, who sees the same files.
    const again = await (await signIn(cabinet, standIn.login('oOpenid-alice'))).json()
    expect(again.user_id).toBe(body.user_id)
    expect(again.token).not.toBe(body.token)
    const list = await (await fetch(`${cabinet.url}/api/files`, { headers: auth(again.token) })).json()
    expect(list.files).toHaveLength(1)
    // Another openid is another user.
    const other = await (await signIn(cabinet, standIn.login('oOpenid-bob'))).json()
    expect(other.user_id).not.toBe(body.user_id)
  })

  it('maps a unionid shared with an earlier sign-in to the same user', async () => {
    const first = await (await signIn(cabinet, standIn.login('oOpenid-carol', 'oUnion-carol'))).json()
    const db = await cabinet.backend.db()
    // The same person in a sibling Mini Program of the same developer: another openid, the same unionid.
    await db.updateTable('wechat_accounts').set({ app_id: 'wx-sibling-app' }).where('openid', '=', 'oOpenid-carol').execute()
    const second = await (await signIn(cabinet, standIn.login('oOpenid-carol-2', 'oUnion-carol'))).json()
    expect(second.user_id).toBe(first.user_id)
  })

  it.each([
    ['an invalid code (40029)', () => 'never-issued', 401, 'WECHAT_CODE_INVALID'],
    ['a code already used (40163)', () => standIn.failingCode(40163, 'code been used'), 401, 'WECHAT_CODE_INVALID'],
    ['WeChat rate limiting (45011)', () => standIn.failingCode(45011, 'API minute-quota reach limit  mustslower  retry next minute'), 429, 'WECHAT_RATE_LIMITED'],
    ['WeChat busy (-1)', () => standIn.failingCode(-1, 'system error'), 503, 'WECHAT_BUSY'],
    ['a high-risk user (40226)', () => standIn.failingCode(40226, 'high risk user'), 403, 'WECHAT_LOGIN_BLOCKED'],
    ['an unknown errcode', () => standIn.failingCode(40999, 'something new'), 502, 'WECHAT_ERROR'],
  ])('maps %s to a clear error', async (_case, code, status, errorCode) => {
    const response = await signIn(cabinet, code())
    expect(response.status).toBe(status)
    const body = await response.json()
    expect(body).toEqual({ error: expect.any(String), code: errorCode })
    if (status === 429 || status === 503) expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('a code works once: the second use is WECHAT_CODE_INVALID', async () => {
    const code = standIn.login('oOpenid-dave')
    expect((await signIn(cabinet, code)).status).toBe(200)
    const reused = await signIn(cabinet, code)
    expect(reused.status).toBe(401)
    expect((await reused.json()).code).toBe('WECHAT_CODE_INVALID')
  })

  it('gives up on a WeChat that does not answer in time: 504 WECHAT_TIMEOUT, bounded', async () => {
    const started = Date.now()
    const response = await signIn(cabinet, standIn.slowCode(5_000))
    const took = Date.now() - started
    expect(response.status).toBe(504)
    expect((await response.json()).code).toBe('WECHAT_TIMEOUT')
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 50)
    expect(took).toBeLessThan(TIMEOUT_MS + 2_000)
  })

  it('refuses a missing or malformed code without asking WeChat', async () => {
    const calls = standIn.calls
    for (const body of [{}, { code: '' }, { code: 'has space' }, { code: 'x'.repeat(300) }]) {
      const response = await fetch(`${cabinet.url}/api/auth/wechat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      expect(response.status).toBe(400)
      expect((await response.json()).code).toBe('BAD_REQUEST')
    }
    expect(standIn.calls).toBe(calls)
  })

  it('a wrong app secret is the operator\'s problem: 502 WECHAT_ERROR, not a 500', async () => {
    const misconfigured = await startTestServer(wechatEnv(standIn, { CABINET_WECHAT_SECRET: 'not-the-secret' }))
    try {
      const response = await signIn(misconfigured, standIn.login('oOpenid-erin'))
      expect(response.status).toBe(502)
      expect(await response.json()).toEqual({ error: 'WeChat sign-in failed: WeChat refused the request (errcode 40125)', code: 'WECHAT_ERROR' })
    } finally {
      await misconfigured.stop()
    }
  })

  it('an unreachable WeChat is 502 WECHAT_ERROR', async () => {
    const unreachable = await startTestServer(wechatEnv(standIn, { CABINET_WECHAT_API_BASE: 'http://127.0.0.1:9' }))
    try {
      const response = await signIn(unreachable, 'any-code')
      expect(response.status).toBe(502)
      expect((await response.json()).code).toBe('WECHAT_ERROR')
    } finally {
      await unreachable.stop()
    }
  })
})

describe('WeChat sign-in, not configured', () => {
  let cabinet: TestServer
  beforeAll(async () => {
    cabinet = await startTestServer()
  })
  afterAll(() => cabinet.stop())

  it('answers 503 WECHAT_NOT_CONFIGURED', async () => {
    const response = await signIn(cabinet, 'abc')
    expect(response.status).toBe(503)
    expect((await response.json()).code).toBe('WECHAT_NOT_CONFIGURED')
  })
})

describe('WeChat sign-in, in the logs of a real cabinet serve', () => {
  it('never logs the session_key, the app secret, the code or the openid, even at trace level', async () => {
    const standIn = await WechatStandIn.start()
    const backend = await openTestBackend()
    const server = await startServeProcess({ ...backend.env, ...wechatEnv(standIn), CABINET_LOG_LEVEL: 'trace' })
    try {
      const code = standIn.login('oOpenid-frank')
      const session = await (await signIn(server, code)).json()
      await fetch(`${server.url}/api/me`, { headers: auth(session.token) })
      await signIn(server, code) // a reused code, which WeChat refuses and Cabinet logs
      await signIn(server, standIn.slowCode(5_000))
      await new Promise((resolve) => setTimeout(resolve, 200))
      const logs = server.output()
      expect(logs).toContain('WeChat refused a login code')
      for (const secret of [standIn.sessionKeys[0]!, standIn.secret, code, 'oOpenid-frank', session.token]) {
        expect(logs).not.toContain(secret)
      }
    } finally {
      server.child.kill('SIGTERM')
      await server.exited
      await backend.cleanup()
      await standIn.close()
    }
  })
})
