import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('POST /api/files/:id/url', () => {
  let cabinet: TestServer
  let token: string
  const bytes = pngBytes(2048)
  let fileId: string

  beforeAll(async () => {
    cabinet = await startTestServer()
    token = await cabinet.token('alice')
    fileId = (await (await uploadFile(cabinet.url, { token, name: 'a.png', bytes })).json()).file_id
  })
  afterAll(() => cabinet.stop())

  async function signedUrl(body: object = {}): Promise<{ url: string; expires_at: string }> {
    const response = await fetch(`${cabinet.url}/api/files/${fileId}/url`, {
      method: 'POST',
      headers: auth(token, { 'content-type': 'application/json' }),
      body: JSON.stringify(body),
    })
    expect(response.status).toBe(200)
    return response.json()
  }

  it('downloads without any header until it expires', async () => {
    const before = Date.now()
    const { url, expires_at } = await signedUrl()
    expect(url.startsWith(`${cabinet.url}/api/files/${fileId}?`)).toBe(true)
    const expiresAt = Date.parse(expires_at)
    expect(expiresAt).toBeGreaterThan(before + 3590_000)
    expect(expiresAt).toBeLessThan(before + 3610_000)
    const response = await fetch(url)
    expect(response.status).toBe(200)
    expect(Buffer.from(await response.arrayBuffer())).toEqual(bytes)
    const ranged = await fetch(url, { headers: { range: 'bytes=0-7' } })
    expect(ranged.status).toBe(206)
  })

  it('works when posted with no body at all, as wx.request may', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${fileId}/url`, { method: 'POST', headers: auth(token) })
    expect(response.status).toBe(200)
  })

  it('an altered signature or expiry answers 403 BAD_SIGNATURE', async () => {
    const { url } = await signedUrl()
    const parsed = new URL(url)
    const sig = parsed.searchParams.get('sig')!
    const tamperedSig = new URL(url)
    tamperedSig.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
    const laterExpiry = new URL(url)
    laterExpiry.searchParams.set('expires', String(Number(parsed.searchParams.get('expires')) + 86_400))
    const otherFile = new URL(url.replace(fileId, 'f'.repeat(32)))
    for (const bad of [tamperedSig, laterExpiry, otherFile]) {
      const response = await fetch(bad)
      expect(response.status).toBe(403)
      expect(await response.json()).toEqual({ error: 'This download link is not valid', code: 'BAD_SIGNATURE' })
    }
    const missingSig = new URL(url)
    missingSig.searchParams.delete('sig')
    expect((await fetch(missingSig)).status).toBe(403)
  })

  it('an expired link answers 403 URL_EXPIRED', async () => {
    const { url } = await signedUrl({ expires_in: 1 })
    await new Promise((resolve) => setTimeout(resolve, 2100))
    const response = await fetch(url)
    expect(response.status).toBe(403)
    expect(await response.json()).toEqual({ error: 'This download link has expired', code: 'URL_EXPIRED' })
  })

  it('refuses a lifetime beyond the configured maximum', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${fileId}/url`, {
      method: 'POST',
      headers: auth(token, { 'content-type': 'application/json' }),
      body: JSON.stringify({ expires_in: 365 * 86_400 }),
    })
    expect(response.status).toBe(400)
    expect((await response.json()).code).toBe('BAD_REQUEST')
  })

  it('uses CABINET_PUBLIC_URL for the link when set, and stops working once the file is deleted', async () => {
    const behindProxy = await startTestServer({ CABINET_PUBLIC_URL: 'https://files.example.com/' })
    try {
      const owner = await behindProxy.token('alice')
      const { file_id } = await (await uploadFile(behindProxy.url, { token: owner, name: 'a.png', bytes })).json()
      const response = await fetch(`${behindProxy.url}/api/files/${file_id}/url`, { method: 'POST', headers: auth(owner) })
      const { url } = await response.json()
      expect(url).toMatch(new RegExp(`^https://files\\.example\\.com/api/files/${file_id}\\?expires=\\d+&sig=[\\w-]+$`))
      const local = url.replace('https://files.example.com', behindProxy.url)
      expect((await fetch(local)).status).toBe(200)
      expect((await fetch(`${behindProxy.url}/api/files/${file_id}`, { method: 'DELETE', headers: auth(owner) })).status).toBe(204)
      expect((await fetch(local)).status).toBe(404)
    } finally {
      await behindProxy.stop()
    }
  })
})
