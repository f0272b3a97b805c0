import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth } from '../helpers/http.js'
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

  it('token create prints a working token as its last line; token revoke ends it', async () => {
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
    expect((await fetch(`${server.url}/api/files`, { headers: auth(token) })).status).toBe(401)
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
