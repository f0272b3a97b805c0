import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ApiKeyScope } from '../../src/db/metadata-store.js'
import { plainPng } from '../helpers/documents.js'
import { pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

describe('API keys and grants', () => {
  let cabinet: TestServer
  let alice: string
  let bob: string
  let aliceFile: string
  let reader: { key: string; id: string; name: string }

  const newKey = async (scopes: ApiKeyScope[], options: { allUsers?: boolean } = {}) => {
    const issued = await cabinet.server.services.keys.issue({ name: `agent-${Math.random().toString(36).slice(2, 8)}`, scopes, ...options })
    return { key: issued.key, id: issued.record.id, name: issued.record.name }
  }
  const grant = (fileId: string, token: string, body: Record<string, unknown>) =>
    fetch(`${cabinet.url}/api/files/${fileId}/grants`, { method: 'POST', headers: auth(token, { 'content-type': 'application/json' }), body: JSON.stringify(body) })
  const readAll = async (key: string, fileId: string) => ({
    download: (await fetch(`${cabinet.url}/api/files/${fileId}`, { headers: auth(key) })).status,
    meta: (await fetch(`${cabinet.url}/api/files/${fileId}/meta`, { headers: auth(key) })).status,
    url: (await fetch(`${cabinet.url}/api/files/${fileId}/url`, { method: 'POST', headers: auth(key) })).status,
    listed: ((await (await fetch(`${cabinet.url}/api/files`, { headers: auth(key) })).json()).files as Array<{ file_id: string }>).some((f) => f.file_id === fileId),
  })

  beforeAll(async () => {
    cabinet = await startTestServer()
    alice = await cabinet.token('alice')
    bob = await cabinet.token('bob')
    aliceFile = (await (await uploadFile(cabinet.url, { token: alice, name: 'report.pdf', bytes: pdfBytes('alice') })).json()).file_id
    reader = await newKey(['files:read'])
  })
  afterAll(() => cabinet.stop())

  it('a key reads nothing nobody granted it: 404 on download, meta and URL, and the list leaves it out', async () => {
    expect(await readAll(reader.key, aliceFile)).toEqual({ download: 404, meta: 404, url: 404, listed: false })
  })

  it('a files:read key cannot upload: 403 SCOPE_MISSING, and nothing is stored', async () => {
    const before = { rows: (await cabinet.fileRows()).length, paths: await cabinet.storedPaths() }
    const response = await uploadFile(cabinet.url, { token: reader.key, name: 'a.png', bytes: pngBytes() })
    expect(response.status).toBe(403)
    expect(await response.json()).toEqual({ error: 'This API key lacks the files:write scope', code: 'SCOPE_MISSING' })
    expect((await cabinet.fileRows()).length).toBe(before.rows)
    expect(await cabinet.storedPaths()).toEqual(before.paths)
    const remove = await fetch(`${cabinet.url}/api/files/${aliceFile}`, { method: 'DELETE', headers: auth(reader.key) })
    expect(remove.status).toBe(403)
  })

  it('after the owner grants the file, the key reads it on every read route; the grant expires on time', async () => {
    const response = await grant(aliceFile, alice, { key: reader.name, ttl: 2 })
    expect(response.status).toBe(201)
    const body = await response.json()
    expect(body).toMatchObject({ file_id: aliceFile, key_id: reader.id, key_name: reader.name, active: true, revoked_at: null })
    expect(Date.parse(body.expires_at) - Date.now()).toBeLessThanOrEqual(2000)

    expect(await readAll(reader.key, aliceFile)).toEqual({ download: 200, meta: 200, url: 200, listed: true })
    const download = await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(reader.key) })
    expect(Buffer.from(await download.arrayBuffer())).toEqual(pdfBytes('alice'))
    // A signed URL the key asks for ends with the grant, whatever it asks.
    const signed = await (await fetch(`${cabinet.url}/api/files/${aliceFile}/url`, {
      method: 'POST',
      headers: auth(reader.key, { 'content-type': 'application/json' }),
      body: JSON.stringify({ expires_in: 86_400 }),
    })).json()
    expect(Date.parse(signed.expires_at)).toBeLessThanOrEqual(Date.parse(body.expires_at))

    await new Promise((resolve) => setTimeout(resolve, Date.parse(body.expires_at) - Date.now() + 50))
    expect(await readAll(reader.key, aliceFile)).toEqual({ download: 404, meta: 404, url: 404, listed: false })
    const grants = await (await fetch(`${cabinet.url}/api/files/${aliceFile}/grants`, { headers: auth(alice) })).json()
    expect(grants.grants).toEqual([expect.objectContaining({ grant_id: body.grant_id, active: false })])
  })

  it('revoking a grant ends the key\'s access at once', async () => {
    const { grant_id } = await (await grant(aliceFile, alice, { key: reader.id, ttl: 600 })).json()
    expect((await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(reader.key) })).status).toBe(200)
    const revoke = await fetch(`${cabinet.url}/api/files/${aliceFile}/grants/${grant_id}`, { method: 'DELETE', headers: auth(alice) })
    expect(revoke.status).toBe(204)
    expect((await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(reader.key) })).status).toBe(404)
    const again = await fetch(`${cabinet.url}/api/files/${aliceFile}/grants/${grant_id}`, { method: 'DELETE', headers: auth(alice) })
    expect(again.status).toBe(404)
    expect((await again.json()).code).toBe('GRANT_NOT_FOUND')
  })

  it('a signed link the key asked for stops with its access: a revoked grant, then a revoked key, answer 404', async () => {
    const linker = await newKey(['files:read', 'files:write'])
    const { grant_id } = await (await grant(aliceFile, alice, { key: linker.id, ttl: 600 })).json()
    const linkTo = async (fileId: string) => {
      const response = await fetch(`${cabinet.url}/api/files/${fileId}/url`, { method: 'POST', headers: auth(linker.key) })
      expect(response.status).toBe(200)
      return ((await response.json()) as { url: string }).url
    }
    const granted = await linkTo(aliceFile)
    expect(new URL(granted).searchParams.get('key')).toBe(linker.id)
    const ownFile = (await (await uploadFile(cabinet.url, { token: linker.key, name: 'own.png', bytes: await plainPng(40, 30) })).json()).file_id
    const own = await linkTo(ownFile)
    const thumbnail = (link: string, fileId: string) => `${cabinet.url}/api/files/${fileId}/thumbnail${new URL(link).search}`
    expect((await fetch(granted)).status).toBe(200)
    expect((await fetch(own)).status).toBe(200)
    expect((await fetch(thumbnail(own, ownFile))).status).toBe(200)

    // The key named in the link cannot be swapped or dropped: the signature covers it.
    const swapped = new URL(granted)
    swapped.searchParams.set('key', reader.id)
    expect((await fetch(swapped)).status).toBe(403)
    swapped.searchParams.delete('key')
    expect((await fetch(swapped)).status).toBe(403)

    expect((await fetch(`${cabinet.url}/api/files/${aliceFile}/grants/${grant_id}`, { method: 'DELETE', headers: auth(alice) })).status).toBe(204)
    const revoked = await fetch(granted)
    expect(revoked.status).toBe(404)
    expect(await revoked.json()).toEqual({ error: expect.any(String), code: 'FILE_NOT_FOUND' })
    expect((await fetch(own)).status).toBe(200)
    // The owner's own links are not tied to any key's access.
    const aliceLink = (await (await fetch(`${cabinet.url}/api/files/${aliceFile}/url`, { method: 'POST', headers: auth(alice) })).json()).url
    expect((await fetch(aliceLink)).status).toBe(200)

    await cabinet.server.services.keys.revoke(linker.id)
    expect((await fetch(own)).status).toBe(404)
    expect((await fetch(thumbnail(own, ownFile))).status).toBe(404)
  })

  it('only the owner grants, lists and revokes: anybody else gets 404 as for a missing file', async () => {
    const { grant_id } = await (await grant(aliceFile, alice, { key: reader.id, ttl: 60 })).json()
    for (const response of [
      await grant(aliceFile, bob, { key: reader.id }),
      await fetch(`${cabinet.url}/api/files/${aliceFile}/grants`, { headers: auth(bob) }),
      await fetch(`${cabinet.url}/api/files/${aliceFile}/grants/${grant_id}`, { method: 'DELETE', headers: auth(bob) }),
      await grant('0'.repeat(32), alice, { key: reader.id }),
    ]) {
      expect(response.status).toBe(404)
      expect((await response.json()).code).toBe('FILE_NOT_FOUND')
    }
    // Keys manage no grants, not even on a file granted to them.
    const byKey = await grant(aliceFile, reader.key, { key: reader.id })
    expect(byKey.status).toBe(403)
    expect((await byKey.json()).code).toBe('KEY_NOT_ALLOWED')
    await fetch(`${cabinet.url}/api/files/${aliceFile}/grants/${grant_id}`, { method: 'DELETE', headers: auth(alice) })
  })

  it('refuses an unknown or revoked key and a ttl past the maximum', async () => {
    const unknown = await grant(aliceFile, alice, { key: 'nobody' })
    expect(unknown.status).toBe(404)
    expect((await unknown.json()).code).toBe('KEY_NOT_FOUND')
    const gone = await newKey(['files:read'])
    await cabinet.server.services.keys.revoke(gone.id)
    expect((await grant(aliceFile, alice, { key: gone.id })).status).toBe(404)
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(gone.key) })).status).toBe(401)
    const tooLong = await grant(aliceFile, alice, { key: reader.id, ttl: 31 * 86_400 })
    expect(tooLong.status).toBe(400)
  })

  it('a files:write key uploads into its own space, reads and deletes its own files, never others\'', async () => {
    const writer = await newKey(['files:read', 'files:write'])
    const upload = await uploadFile(cabinet.url, { token: writer.key, name: 'summary.png', bytes: pngBytes() })
    expect(upload.status).toBe(200)
    const own = (await upload.json()).file_id
    expect((await cabinet.fileRows()).find((row) => row.id === own)?.user_id).toBe(`key:${writer.id}`)
    expect((await fetch(`${cabinet.url}/api/files/${own}`, { headers: auth(writer.key) })).status).toBe(200)
    // Nobody else sees it, the owner of nothing it was granted.
    expect((await fetch(`${cabinet.url}/api/files/${own}`, { headers: auth(alice) })).status).toBe(404)

    await grant(aliceFile, alice, { key: writer.id, ttl: 60 })
    const deleteGranted = await fetch(`${cabinet.url}/api/files/${aliceFile}`, { method: 'DELETE', headers: auth(writer.key) })
    expect(deleteGranted.status).toBe(404)
    expect((await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(alice) })).status).toBe(200)
    expect((await fetch(`${cabinet.url}/api/files/${own}`, { method: 'DELETE', headers: auth(writer.key) })).status).toBe(204)
  })

  it('an --all-users key reads any user\'s file without a grant; an admin-scoped key counts as admin', async () => {
    const all = await newKey(['files:read'], { allUsers: true })
    expect((await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(all.key) })).status).toBe(200)
    const me = await (await fetch(`${cabinet.url}/api/me`, { headers: auth(all.key) })).json()
    expect(me).toMatchObject({ user_id: `key:${all.id}`, via: 'api-key', admin: false, key: { id: all.id, scopes: ['files:read'], all_users: true } })
    const admin = await newKey(['admin'])
    expect((await (await fetch(`${cabinet.url}/api/me`, { headers: auth(admin.key) })).json()).admin).toBe(true)
    // The admin scope alone reads no files.
    expect((await fetch(`${cabinet.url}/api/files`, { headers: auth(admin.key) })).status).toBe(403)
  })

  it('writes every access by a key to the audit log: who, what file, when, from where, allowed or denied', async () => {
    const auditor = await newKey(['files:read'])
    const started = Date.now()
    await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(auditor.key) })
    await grant(aliceFile, alice, { key: auditor.id, ttl: 60 })
    await fetch(`${cabinet.url}/api/files/${aliceFile}/meta`, { headers: auth(auditor.key) })
    await fetch(`${cabinet.url}/api/files`, { headers: auth(auditor.key) })
    const entries = await cabinet.server.services.audit.list({ keyId: auditor.id, limit: 10 })
    expect(entries.map((e) => [e.action, e.outcome, e.fileId ?? null])).toEqual([
      ['file.list', 'allowed', null],
      ['file.meta', 'allowed', aliceFile],
      ['grant.create', 'allowed', aliceFile],
      ['file.download', 'denied', aliceFile],
    ])
    for (const entry of entries) {
      expect(entry.ip).toMatch(/127\.0\.0\.1/)
      expect(entry.at.getTime()).toBeGreaterThanOrEqual(started - 5)
    }
    expect(entries[2]).toMatchObject({ userId: 'alice', fileOwner: 'alice' })
    // A user's own reads are not the audit log's business.
    const before = await cabinet.server.services.audit.list({ fileId: aliceFile, limit: 1000 })
    await fetch(`${cabinet.url}/api/files/${aliceFile}`, { headers: auth(alice) })
    expect(await cabinet.server.services.audit.list({ fileId: aliceFile, limit: 1000 })).toEqual(before)
  })

  it('a deleted file takes its grants with it', async () => {
    const fileId = (await (await uploadFile(cabinet.url, { token: alice, name: 'b.png', bytes: pngBytes() })).json()).file_id
    await grant(fileId, alice, { key: reader.id, ttl: 60 })
    expect((await fetch(`${cabinet.url}/api/files/${fileId}`, { method: 'DELETE', headers: auth(alice) })).status).toBe(204)
    const db = await cabinet.backend.db()
    expect(await db.selectFrom('file_grants').selectAll().where('file_id', '=', fileId).execute()).toEqual([])
    expect((await fetch(`${cabinet.url}/api/files/${fileId}`, { headers: auth(reader.key) })).status).toBe(404)
  })
  it('a key\'s search covers what it may read: its own files, files granted to it now, every user\'s with --all-users', async () => {
    const seeker = await newKey(['files:read', 'files:write'])
    const everyone = await newKey(['files:read'], { allUsers: true })
    const bobFile = (await (await uploadFile(cabinet.url, { token: bob, name: 'quarterly-bob.pdf', bytes: pdfBytes('bob') })).json()).file_id
    const ownFile = (await (await uploadFile(cabinet.url, { token: seeker.key, name: 'quarterly-own.pdf', bytes: pdfBytes('own') })).json()).file_id
    const found = async (key: string, path = '/api/files?q=quarterly') =>
      ((await (await fetch(`${cabinet.url}${path}`, { headers: auth(key) })).json()).files as Array<{ file_id: string }>).map((f) => f.file_id).sort()
    expect(await found(seeker.key)).toEqual([ownFile])
    const granted = await (await grant(bobFile, bob, { key: seeker.id, ttl: 60 })).json()
    expect(await found(seeker.key)).toEqual([bobFile, ownFile].sort())
    await fetch(`${cabinet.url}/api/files/${bobFile}/grants/${granted.grant_id}`, { method: 'DELETE', headers: auth(bob) })
    expect(await found(seeker.key)).toEqual([ownFile])
    expect(await found(everyone.key)).toEqual([bobFile, ownFile].sort())
    // Listing agrees: an --all-users key lists every user's files.
    expect(await found(everyone.key, '/api/files?limit=200')).toEqual(expect.arrayContaining([bobFile, ownFile, aliceFile]))
    const searches = await cabinet.server.services.audit.list({ keyId: seeker.id, limit: 10 })
    expect(searches.filter((e) => e.action === 'file.search').map((e) => e.detail)).toEqual(['1 files', '2 files', '1 files'])
  })
})
