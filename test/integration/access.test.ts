import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('identity and access', () => {
  let cabinet: TestServer
  let alice: string
  let bob: string
  let aliceFile: string

  beforeAll(async () => {
    cabinet = await startTestServer()
    alice = await cabinet.token('alice')
    bob = await cabinet.token('bob')
    aliceFile = (await (await uploadFile(cabinet.url, { token: alice, name: 'a.png', bytes: pngBytes() })).json()).file_id
  })
  afterAll(() => cabinet.stop())

  it('every /api/files route needs a bearer token', async () => {
    const requests: Array<[string, string]> = [
      ['GET', '/api/files'],
      ['GET', `/api/files/${aliceFile}`],
      ['HEAD', `/api/files/${aliceFile}`],
      ['GET', `/api/files/${aliceFile}/meta`],
      ['POST', `/api/files/${aliceFile}/url`],
      ['DELETE', `/api/files/${aliceFile}`],
    ]
    for (const [method, path] of requests) {
      const response = await fetch(`${cabinet.url}${path}`, { method })
      expect(response.status, `${method} ${path}`).toBe(401)
      if (method !== 'HEAD') expect(await response.json()).toMatchObject({ code: 'UNAUTHORIZED' })
    }
    const upload = await uploadFile(cabinet.url, { name: 'a.png', bytes: pngBytes() })
    expect(upload.status).toBe(401)
    expect(await cabinet.storedPaths()).toHaveLength(1)
  })

  it.each(['Bearer nonsense', 'Bearer cab_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Basic YTpi', 'Bearer'])(
    'a bad Authorization header (%s) is refused',
    async (authorization) => {
      const response = await fetch(`${cabinet.url}/api/files`, { headers: { authorization } })
      expect(response.status).toBe(401)
      expect((await response.json()).code).toBe('UNAUTHORIZED')
    },
  )

  it('user B gets 404 for user A\'s file on every route, exactly as for a missing id', async () => {
    const missing = '0'.repeat(32)
    for (const id of [aliceFile, missing, 'not-an-id', '..%2F..%2Fcabinet.db', '%00', 'a'.repeat(101), 'a'.repeat(2048)]) {
      for (const [method, path] of [
        ['GET', `/api/files/${id}`],
        ['GET', `/api/files/${id}/meta`],
        ['POST', `/api/files/${id}/url`],
        ['DELETE', `/api/files/${id}`],
      ] as const) {
        const response = await fetch(`${cabinet.url}${path}`, { method, headers: auth(bob) })
        expect(response.status, `${method} ${path}`).toBe(404)
        expect(await response.json()).toEqual({ error: 'File not found', code: 'FILE_NOT_FOUND' })
      }
    }
    const list = await (await fetch(`${cabinet.url}/api/files`, { headers: auth(bob) })).json()
    expect(list.files).toEqual([])
    // Still there for its owner.
    expect((await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(alice) })).status).toBe(200)
  })

  it('a path part over 2048 characters answers 414, without echoing it', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${'a'.repeat(2049)}`, { headers: auth(bob) })
    expect(response.status).toBe(414)
    expect(await response.json()).toEqual({ error: 'A part of the path is longer than 2048 characters', code: 'URI_TOO_LONG' })
  })

  it('a text body on a JSON route answers 415, like any type the route does not take', async () => {
    for (const type of ['text/plain', 'application/xml']) {
      const response = await fetch(`${cabinet.url}/api/files/${aliceFile}/url`, { method: 'POST', headers: auth(alice, { 'content-type': type }), body: '{}' })
      expect(response.status, type).toBe(415)
      expect((await response.json()).code).toBe('UNSUPPORTED_MEDIA_TYPE')
    }
  })

  it('x-user-id alone is ignored when the header is not trusted', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: { 'x-user-id': 'alice' } })
    expect(response.status).toBe(401)
    const upload = await uploadFile(cabinet.url, { name: 'a.png', bytes: pngBytes(), headers: { 'x-user-id': 'alice' } })
    expect(upload.status).toBe(401)
    // And it never overrides the identity a token proves.
    const withToken = await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(bob, { 'x-user-id': 'alice' }) })
    expect(withToken.status).toBe(404)
  })

  it('a revoked token stops working at once', async () => {
    const issued = await cabinet.server.services.tokens.issue('carol')
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(issued.token) })).status).toBe(200)
    expect(await cabinet.server.services.tokens.revoke(issued.record.id)).toBe(true)
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(issued.token) })).status).toBe(401)
  })

  it('an expired token is refused', async () => {
    const token = await cabinet.token('dave', 300)
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(token) })).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 350))
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(token) })).status).toBe(401)
  })
})

describe('behind a trusted gateway (CABINET_TRUST_USER_HEADER=1)', () => {
  let cabinet: TestServer
  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_TRUST_USER_HEADER: '1' })
  })
  afterAll(() => cabinet.stop())

  it('the design note\'s client code works: x-user-id uploads and downloads its own files', async () => {
    const upload = await uploadFile(cabinet.url, { name: 'a.png', bytes: pngBytes(), headers: { 'x-user-id': 'wx-openid-1' } })
    expect(upload.status).toBe(200)
    const { file_id } = await upload.json()
    expect((await fetch(`${cabinet.url}/api/files/${file_id}`, { headers: { 'x-user-id': 'wx-openid-1' } })).status).toBe(200)
    expect((await fetch(`${cabinet.url}/api/files/${file_id}`, { headers: { 'x-user-id': 'wx-openid-2' } })).status).toBe(404)
  })

  it('a malformed x-user-id is refused', async () => {
    const response = await fetch(`${cabinet.url}/api/files`, { headers: { 'x-user-id': '../admin' } })
    expect(response.status).toBe(401)
  })
})
