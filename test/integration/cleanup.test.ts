import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { runCli } from '../helpers/process.js'
import { startTestServer, type TestServer } from '../helpers/server.js'

const DAY = 86_400_000
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

interface Uploaded {
  readonly file_id: string
  readonly size: number
  readonly pinned: boolean
}

describe('PATCH /api/files/:id {pinned}', () => {
  let cabinet: TestServer
  let alice: string
  let bob: string
  let file: Uploaded

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_CLEANUP_SCHEDULE: 'off', CABINET_BACKUP_SCHEDULE: 'off' })
    alice = await cabinet.token('alice')
    bob = await cabinet.token('bob')
    file = await (await uploadFile(cabinet.url, { token: alice, name: 'keep.png', bytes: pngBytes() })).json()
  })
  afterAll(() => cabinet.stop())

  const patch = (id: string, token: string, body: unknown) =>
    fetch(`${cabinet.url}/api/files/${id}`, { method: 'PATCH', headers: auth(token, { 'content-type': 'application/json' }), body: JSON.stringify(body) })

  it('an upload starts unpinned; the owner pins and unpins it, and the file JSON says so', async () => {
    expect(file.pinned).toBe(false)
    const pinned = await patch(file.file_id, alice, { pinned: true })
    expect(pinned.status).toBe(200)
    expect(await pinned.json()).toMatchObject({ file_id: file.file_id, pinned: true })
    const meta = await (await fetch(`${cabinet.url}/api/files/${file.file_id}/meta`, { headers: auth(alice) })).json()
    expect(meta.pinned).toBe(true)
    const listed = await (await fetch(`${cabinet.url}/api/files`, { headers: auth(alice) })).json()
    expect(listed.files[0].pinned).toBe(true)
    expect(await (await patch(file.file_id, alice, { pinned: false })).json()).toMatchObject({ pinned: false })
  })

  it("answers 404 for another user's file and for an unknown id, exactly alike", async () => {
    const others = await patch(file.file_id, bob, { pinned: true })
    expect(others.status).toBe(404)
    expect(await others.json()).toEqual({ error: 'File not found', code: 'FILE_NOT_FOUND' })
    expect((await patch('0'.repeat(32), alice, { pinned: true })).status).toBe(404)
    const meta = await (await fetch(`${cabinet.url}/api/files/${file.file_id}/meta`, { headers: auth(alice) })).json()
    expect(meta.pinned).toBe(false)
  })

  it.each([[{}], [{ pinned: 'yes' }], [{ pinned: true, name: 'x' }]])('refuses the body %j with 400 BAD_REQUEST', async (body) => {
    const response = await patch(file.file_id, alice, body)
    expect(response.status).toBe(400)
    expect((await response.json()).code).toBe('BAD_REQUEST')
  })

  it('needs a token', async () => {
    const response = await fetch(`${cabinet.url}/api/files/${file.file_id}`, { method: 'PATCH', body: '{"pinned":true}', headers: { 'content-type': 'application/json' } })
    expect(response.status).toBe(401)
  })
})

describe('cabinet cleanup', () => {
  let cabinet: TestServer
  let env: Record<string, string>
  const tokens: Record<string, string> = {}
  const files: Record<string, Uploaded & { bytes: Buffer; user: string }> = {}

  async function upload(label: string, user: string, ageDays: number, bytes: Buffer = pngBytes(1000 + Object.keys(files).length)) {
    const name = bytes[0] === 0x25 ? `${label}.pdf` : `${label}.png`
    const response = await uploadFile(cabinet.url, { token: tokens[user]!, name, bytes })
    expect(response.status).toBe(200)
    const body = (await response.json()) as Uploaded
    files[label] = { ...body, bytes, user }
    const db = await cabinet.backend.db()
    await db.updateTable('files').set({ uploaded_at: Date.now() - ageDays * DAY }).where('id', '=', body.file_id).execute()
  }

  const cli = (args: string[]) => runCli(args, { ...env, ...QUIET_SDK })
  const rowIds = async () => (await cabinet.fileRows()).map((row) => row.id).sort()
  const idsOf = (...labels: string[]) => labels.map((label) => files[label]!.file_id).sort()
  const bytesOf = (...labels: string[]) => labels.reduce((sum, label) => sum + files[label]!.size, 0)

  beforeAll(async () => {
    cabinet = await startTestServer({ CABINET_RETENTION: '30d', CABINET_CLEANUP_SCHEDULE: 'off', CABINET_BACKUP_SCHEDULE: 'off' })
    env = { ...cabinet.backend.env, CABINET_RETENTION: '30d' }
    for (const user of ['alice', 'bob', 'carol']) tokens[user] = await cabinet.token(user)
    await upload('alice-expired', 'alice', 40, pngBytes(3 * 1024 * 1024))
    await upload('alice-pinned', 'alice', 400)
    await upload('alice-fresh', 'alice', 1)
    await upload('bob-within-90d', 'bob', 40)
    await upload('bob-expired', 'bob', 100, pdfBytes('old'))
    await upload('carol-never', 'carol', 1000)
    const pin = await fetch(`${cabinet.url}/api/files/${files['alice-pinned']!.file_id}`, {
      method: 'PATCH',
      headers: auth(tokens.alice!, { 'content-type': 'application/json' }),
      body: '{"pinned":true}',
    })
    expect(pin.status).toBe(200)
    expect((await cli(['user', 'set-retention', '--user', 'bob', '--older-than', '90d'])).code).toBe(0)
    const never = await cli(['user', 'set-retention', '--user', 'carol', '--never'])
    expect(never.stdout).toContain('Files of user carol now never expire')
  })
  afterAll(() => cabinet.stop())

  it('a dry run reports what would go and changes nothing', async () => {
    const result = await cli(['cleanup', '--dry-run', '--json'])
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report).toMatchObject({
      dryRun: true,
      before: { files: 6 },
      removed: { files: 2, bytes: bytesOf('alice-expired', 'bob-expired') },
      after: { files: 4 },
    })
    expect(await rowIds()).toHaveLength(6)
    expect(await cabinet.storedPaths()).toHaveLength(6)
  })

  it('removes exactly the expired files, rows and blobs, keeping pinned, fresh and per-user retained ones', async () => {
    const expired = files['alice-expired']!
    // A download already under way when clean-up removes its file still gets every byte.
    const inFlight = await fetch(`${cabinet.url}/api/files/${expired.file_id}`, { headers: auth(tokens.alice!) })
    expect(inFlight.status).toBe(200)
    const reader = inFlight.body!.getReader()
    const received: Uint8Array[] = [(await reader.read()).value!]
    // Uploads running meanwhile are fresh, and untouched.
    const concurrentUploads = Promise.all(
      Array.from({ length: 4 }, (_, i) => uploadFile(cabinet.url, { token: tokens.alice!, name: `during-${i}.png`, bytes: pngBytes(50_000 + i) })),
    )
    const result = await cli(['cleanup', '--json'])
    expect(result.stderr).not.toContain('"level":50')
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.removed).toEqual({ files: 2, bytes: bytesOf('alice-expired', 'bob-expired') })
    expect(report.failures).toEqual([])
    expect(report.after.files).toBe(report.before.files - 2)
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received.push(chunk.value)
    expect(sha256(Buffer.concat(received))).toBe(sha256(expired.bytes))
    const during = await concurrentUploads
    expect(during.map((response) => response.status)).toEqual([200, 200, 200, 200])
    const duringIds = await Promise.all(during.map(async (response) => ((await response.json()) as Uploaded).file_id))

    const kept = idsOf('alice-pinned', 'alice-fresh', 'bob-within-90d', 'carol-never')
    expect(await rowIds()).toEqual([...kept, ...duringIds].sort())
    const stored = await cabinet.storedPaths()
    expect(stored.map((path) => path.split('/').at(-1)).sort()).toEqual([...kept, ...duringIds].sort())

    for (const label of ['alice-expired', 'bob-expired']) {
      const file = files[label]!
      expect((await fetch(`${cabinet.url}/api/files/${file.file_id}`, { headers: auth(tokens[file.user]!) })).status).toBe(404)
    }
    const pinned = await fetch(`${cabinet.url}/api/files/${files['alice-pinned']!.file_id}`, { headers: auth(tokens.alice!) })
    expect(sha256(Buffer.from(await pinned.arrayBuffer()))).toBe(sha256(files['alice-pinned']!.bytes))
  })

  it('a second run finds nothing and says so; --older-than and --default change what expires', async () => {
    const again = await cli(['cleanup'])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/before: +\d+ files/)
    expect(again.stdout).toMatch(/removed: +0 files, 0 B/)
    expect((await cli(['user', 'set-retention', '--user', 'bob', '--default'])).code).toBe(0)
    const stricter = JSON.parse((await cli(['cleanup', '--older-than', '20d', '--json'])).stdout)
    // bob is back on the global retention (here 20 days); carol still never expires; pinned stays.
    expect(stricter.removed.files).toBe(1)
    expect(await rowIds()).not.toContain(files['bob-within-90d']!.file_id)
    expect(await rowIds()).toContain(files['carol-never']!.file_id)
  })

  it('refuses a bad duration or a retention without exactly one choice', async () => {
    const bad = await cli(['cleanup', '--older-than', 'soon'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('not a duration like 30d')
    const badUser = await cli(['user', 'set-retention', '--user', 'bob'])
    expect(badUser.stderr).toContain('exactly one of --older-than, --never, --default')
  })
})
