import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pngBytes } from '../helpers/fixtures.js'
import { auth, eventually, uploadFile } from '../helpers/http.js'
import { runCli, startServeProcess, type ServeProcess } from '../helpers/process.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

describe('cabinet CLI', () => {
  let backend: TestBackend
  let env: Record<string, string>
  let server: ServeProcess

  beforeAll(async () => {
    backend = await openTestBackend()
    env = backend.env
    server = await startServeProcess(env)
  })
  afterAll(async () => {
    server.child.kill('SIGTERM')
    await server.exited
    await backend.cleanup()
  })

  it('serve on a port another instance holds exits with an error instead of running on without a port', async () => {
    const started = Date.now()
    const second = await runCli(['serve'], { HOST: '127.0.0.1', PORT: new URL(server.url).port, CABINET_MIN_FREE_BYTES: '0', ...env })
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/EADDRINUSE|address already in use/)
    expect(Date.now() - started).toBeLessThan(20_000)
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
  })

  it('token create prints a working token as its last line; token revoke ends it within a second', async () => {
    const created = await runCli(['token', 'create', '--user', 'alice', '--ttl', '30d'], env)
    expect(created.code).toBe(0)
    const lines = created.stdout.trim().split('\n')
    const token = lines.at(-1)!
    expect(token).toMatch(/^cab_[0-9a-f]{16}\.[\w-]{43}$/)
    expect(created.stdout).toMatch(/for user alice \(expires 20\d\d-/)
    expect((await fetch(`${server.url}/api/files`, { headers: auth(token) })).status).toBe(200)

    const listed = await runCli(['token', 'list', '--user', 'alice'], env)
    expect(listed.stdout).toContain('\talice\tactive\t')
    expect(listed.stdout).not.toContain(token.split('.')[1])

    const revoked = await runCli(['token', 'revoke', token.slice(4, 20)], env)
    expect(revoked.code).toBe(0)
    // The server believes a token it verified for up to a second; a revocation from another process lands within it.
    await eventually(async () => expect((await fetch(`${server.url}/api/files`, { headers: auth(token) })).status).toBe(401), 2000)
    const again = await runCli(['token', 'revoke', token], env)
    expect(again.code).toBe(1)
  })

  it('token create --admin issues an admin token, and token list says which tokens are admin', async () => {
    const admin = await runCli(['token', 'create', '--user', 'ops', '--admin'], env)
    expect(admin.code).toBe(0)
    expect(admin.stdout).toMatch(/^admin token [0-9a-f]{16} for user ops \(never expires\)/m)
    const plain = await runCli(['token', 'create', '--user', 'ops'], env)
    const listed = (await runCli(['token', 'list', '--user', 'ops'], env)).stdout.trim().split('\n')
    const roleOf = (output: string) => listed.find((line) => line.startsWith(output.trim().split('\n').at(-1)!.slice(4, 20)))?.split('\t').at(-1)
    expect(roleOf(admin.stdout)).toBe('admin')
    expect(roleOf(plain.stdout)).toBe('user')
  })

  it('key create prints a key once; it reads only granted files; key list shows it without its secret; key revoke ends it', async () => {
    const created = await runCli(['key', 'create', '--name', 'openclaw', '--scope', 'files:read,chat'], env)
    expect(created.code).toBe(0)
    expect(created.stdout).toMatch(/^API key [0-9a-f]{16} "openclaw" with files:read,chat: reads only files granted to it; never expires/m)
    const key = created.stdout.trim().split('\n').at(-1)!
    expect(key).toMatch(/^cabk_[0-9a-f]{16}\.[\w-]{43}$/)
    const keyId = key.slice(5, 21)

    const owner = (await runCli(['token', 'create', '--user', 'kate'], env)).stdout.trim().split('\n').at(-1)!
    const { file_id } = await (await uploadFile(server.url, { token: owner, name: 'k.png', bytes: pngBytes() })).json()
    expect((await fetch(`${server.url}/api/files/${file_id}`, { headers: auth(key) })).status).toBe(404)
    const granted = await fetch(`${server.url}/api/files/${file_id}/grants`, {
      method: 'POST',
      headers: auth(owner, { 'content-type': 'application/json' }),
      body: JSON.stringify({ key: 'openclaw', ttl: 600 }),
    })
    expect(granted.status).toBe(201)
    expect((await fetch(`${server.url}/api/files/${file_id}`, { headers: auth(key) })).status).toBe(200)

    const duplicate = await runCli(['key', 'create', '--name', 'openclaw', '--scope', 'files:read'], env)
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr).toContain('An active key named "openclaw" exists')
    const badScope = await runCli(['key', 'create', '--name', 'x', '--scope', 'files:everything'], env)
    expect(badScope.stderr).toContain('unknown: files:everything')

    const listed = await runCli(['key', 'list'], env)
    expect(listed.stdout).toContain(`${keyId}\topenclaw\tactive\tfiles:read,chat\tgranted-only\t`)
    expect(listed.stdout).not.toContain(key.split('.')[1])

    const audit = await runCli(['audit', '--key', 'openclaw'], env)
    expect(audit.code).toBe(0)
    const lines = audit.stdout.trim().split('\n').map((line) => line.split('\t'))
    expect(lines.map((fields) => [fields[1], fields[2], fields[3], fields[4]])).toEqual([
      [`key:${keyId}(openclaw)`, 'file.download', 'allowed', file_id],
      [`key:${keyId}(openclaw)`, 'grant.create', 'allowed', file_id],
      [`key:${keyId}(openclaw)`, 'file.download', 'denied', file_id],
    ])
    expect(lines[0]![6]).toMatch(/127\.0\.0\.1/)
    const json = await runCli(['audit', '--file', file_id, '--since', '1h', '--json', '--limit', '1'], env)
    expect(JSON.parse(json.stdout)).toMatchObject({ action: 'file.download', keyId, keyName: 'openclaw', fileOwner: 'kate' })

    expect((await runCli(['key', 'revoke', 'openclaw'], env)).code).toBe(0)
    expect((await fetch(`${server.url}/api/files/${file_id}`, { headers: auth(key) })).status).toBe(401)
    expect((await runCli(['key', 'revoke', keyId], env)).code).toBe(1)
  })

  it('user set-quota sets a user\'s own limits, which the running server enforces; user show reports them', async () => {
    const token = (await runCli(['token', 'create', '--user', 'quinn'], env)).stdout.trim().split('\n').at(-1)!
    const set = await runCli(['user', 'set-quota', '--user', 'quinn', '--max-files', '1', '--max-bytes', '100000'], env)
    expect(set.code).toBe(0)
    expect(set.stdout.trim()).toBe('User quinn: 0 of 100000 bytes, 0 of 1 files')
    expect((await uploadFile(server.url, { token, name: 'a.png', bytes: pngBytes() })).status).toBe(200)
    const refused = await uploadFile(server.url, { token, name: 'b.png', bytes: pngBytes() })
    expect(refused.status).toBe(507)
    expect((await refused.json()).code).toBe('QUOTA_EXCEEDED')

    const back = await runCli(['user', 'set-quota', '--user', 'quinn', '--max-files', 'default', '--max-bytes', 'unlimited'], env)
    expect(back.stdout.trim()).toBe(`User quinn: ${pngBytes().length} of unlimited bytes, 1 of 10000 (default) files`)
    expect((await runCli(['user', 'show', '--user', 'quinn'], env)).stdout).toBe(back.stdout)
    expect((await uploadFile(server.url, { token, name: 'b.png', bytes: pngBytes() })).status).toBe(200)

    const bad = await runCli(['user', 'set-quota', '--user', 'quinn', '--max-bytes', '12x'], env)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('must be a whole number, "unlimited" or "default"')
    const none = await runCli(['user', 'set-quota', '--user', 'quinn'], env)
    expect(none.stderr).toContain('needs --max-bytes and/or --max-files')
    expect((await runCli(['user', 'frobnicate'], env)).stderr).toContain('usage: cabinet user set-quota|show')
  })

  it('refuses bad input with a clear message', async () => {
    const noUser = await runCli(['token', 'create'], env)
    expect(noUser.code).toBe(1)
    expect(noUser.stderr).toContain('needs --user')
    const badTtl = await runCli(['token', 'create', '--user', 'a', '--ttl', 'soon'], env)
    expect(badTtl.stderr).toContain('not a duration like 30d')
    const badUser = await runCli(['token', 'create', '--user', '../root'], env)
    expect(badUser.code).toBe(1)
    const unknown = await runCli(['frobnicate'], env)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown command "frobnicate"')
  })

  it('serve lists every bad setting at once and exits 78', async () => {
    const result = await runCli(['serve'], {
      ...env,
      PORT: 'eighty',
      CABINET_MAX_FILE_BYTES: '-5',
      CABINET_ALLOWED_TYPES: 'png,exe',
      CABINET_URL_SECRET: 'short',
    })
    expect(result.code).toBe(78)
    expect(result.stderr).toContain('Invalid configuration')
    for (const name of ['PORT="eighty"', 'CABINET_MAX_FILE_BYTES="-5"', 'CABINET_ALLOWED_TYPES', 'CABINET_URL_SECRET']) {
      expect(result.stderr).toContain(name)
    }
    expect(result.stderr).not.toContain('    at ')
  })
})
