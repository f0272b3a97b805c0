import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docxBytes, jpegBytes, pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { auth, uploadFile } from '../helpers/http.js'
import { runCli } from '../helpers/process.js'
import { startTestServer } from '../helpers/server.js'
import { openTestBackend, type TestBackend } from '../helpers/test-backend.js'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

/** The pinned AWS SDK warns once per process that its 2027 releases will need Node 22; that notice is not under test. */
const QUIET_SDK = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }

async function envFile(path: string, env: Record<string, string>): Promise<string> {
  await writeFile(path, Object.entries(env).map(([name, value]) => `${name}=${value}\n`).join(''))
  return path
}

describe('cabinet migrate-storage: embedded default to PostgreSQL + S3', () => {
  let source: TestBackend
  let target: TestBackend
  let fromFile: string
  let toFile: string
  const tokens: Record<string, string> = {}
  const uploaded: Array<{ user: string; file_id: string; sha256: string; name: string }> = []
  let signedUrlPath: string
  let apiKey: string
  /** A key revoked between runs and replaced under the same name. */
  let replacedKey: string
  let replacementKey: string
  const conversationId = 'c0'.repeat(16)
  const grantIds: string[] = []
  const attachment = () => ({ fileId: uploaded[0]!.file_id, originalName: '报告.pdf', kind: 'pdf', sizeBytes: 1000 })

  /** Runs the source's server again for more use between migrations. */
  async function useSource(work: (cabinet: Awaited<ReturnType<typeof startTestServer>>) => Promise<void>): Promise<void> {
    const cabinet = await startTestServer({}, source)
    try {
      await work(cabinet)
    } finally {
      await cabinet.stop()
    }
  }

  beforeAll(async () => {
    source = await openTestBackend('embedded')
    target = await openTestBackend('postgres-s3')
    const cabinet = await startTestServer({}, source)
    try {
      tokens.alice = await cabinet.token('alice')
      tokens.bob = await cabinet.token('bob')
      const samples: Array<[string, string, Buffer]> = [
        ['alice', '报告.pdf', pdfBytes('季度')],
        ['alice', 'photo.png', pngBytes(200_000)],
        ['alice', 'letter.docx', docxBytes()],
        ['bob', 'scan.jpg', jpegBytes(6 * 1024 * 1024)],
        ['bob', 'gone.png', pngBytes()],
      ]
      for (const [user, name, bytes] of samples) {
        const body = await (await uploadFile(cabinet.url, { token: tokens[user]!, name, bytes })).json()
        expect(body.sha256).toBe(sha256(bytes))
        uploaded.push({ user, file_id: body.file_id, sha256: body.sha256, name })
      }
      const gone = uploaded.pop()!
      await fetch(`${cabinet.url}/api/files/${gone.file_id}`, { method: 'DELETE', headers: auth(tokens.bob!) })
      const signed = await (await fetch(`${cabinet.url}/api/files/${uploaded[0]!.file_id}/url`, { method: 'POST', headers: auth(tokens.alice!) })).json()
      signedUrlPath = signed.url.slice(cabinet.url.length)
      apiKey = (await cabinet.server.services.keys.issue({ name: 'openclaw', scopes: ['files:read'] })).key
      replacedKey = (await cabinet.server.services.keys.issue({ name: 'helper', scopes: ['files:read'] })).key
      await cabinet.server.services.quotas.setLimits('alice', { maxFiles: 50 })
      await cabinet.server.services.metadata.users.signInWechat({ appId: 'wxapp', openid: 'o-alice', unionid: undefined }, 'wx-0123456789abcdef', new Date())
      // Alice's files never expire, whatever the global retention.
      await cabinet.server.services.metadata.retention.setPolicy('alice', null, new Date())
      await cabinet.server.services.metadata.retention.setPolicy('bob', 7 * 86_400_000, new Date())
      tokens.carol = await cabinet.token('carol')
      for (const file of uploaded.slice(0, 2)) {
        const granted = await fetch(`${cabinet.url}/api/files/${file.file_id}/grants`, {
          method: 'POST',
          headers: auth(tokens.alice!, { 'content-type': 'application/json' }),
          body: JSON.stringify({ key: 'openclaw', ttl: 3600 }),
        })
        expect(granted.status).toBe(201)
        grantIds.push((await granted.json()).grant_id)
      }
      expect((await fetch(`${cabinet.url}/api/files/${uploaded[0]!.file_id}`, { headers: auth(apiKey) })).status).toBe(200)
      const recorded = await cabinet.server.services.metadata.conversations.recordTurn(conversationId, {
        create: { userId: 'alice', title: 'Summarise 报告' },
        attachments: [attachment()],
        messages: [
          { role: 'user', content: 'Summarise 报告.pdf' },
          { role: 'assistant', content: '季度 figures, in short.' },
        ],
        at: new Date(),
      })
      expect(recorded).toBe(true)
    } finally {
      await cabinet.stop()
    }
    fromFile = await envFile(join(source.dataDir, 'from.env'), source.env)
    toFile = await envFile(join(source.dataDir, 'to.env'), { ...target.env, CABINET_DATA_DIR: target.dataDir })
  })
  afterAll(async () => {
    await source?.cleanup()
    await target?.cleanup()
  })

  it('copies every file, verified, with grants, conversations and the audit log, and a second run finds nothing left to do', async () => {
    const first = await runCli(['migrate-storage', '--from', fromFile, '--to', toFile, '--json'], QUIET_SDK)
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    const report = JSON.parse(first.stdout)
    expect(report).toMatchObject({
      copiedFiles: 4,
      skippedFiles: 0,
      copiedTokens: 3,
      copiedKeys: 2,
      copiedRetentionPolicies: 2,
      copiedGrants: 2,
      copiedConversations: 1,
      copiedMessages: 2,
      carriedRevocations: 0,
      failures: [],
    })
    // Two grants made and one download by the key, at least.
    expect(report.copiedAuditEntries).toBeGreaterThanOrEqual(3)

    const again = await runCli(['migrate-storage', '--from', fromFile, '--to', toFile, '--json'], QUIET_SDK)
    expect(JSON.parse(again.stdout)).toMatchObject({
      copiedFiles: 0,
      skippedFiles: 4,
      copiedTokens: 0,
      copiedKeys: 0,
      copiedRetentionPolicies: 0,
      copiedGrants: 0,
      copiedConversations: 0,
      copiedMessages: 0,
      copiedAuditEntries: 0,
      carriedRevocations: 0,
      failures: [],
    })
  })

  it('a run after more use of the source carries new turns, pins, retention changes and revocations', async () => {
    await useSource(async (cabinet) => {
      expect(await cabinet.server.services.tokens.revoke(tokens.carol!)).toBe(true)
      expect(await cabinet.server.services.keys.revoke('helper')).toBe(true)
      replacementKey = (await cabinet.server.services.keys.issue({ name: 'helper', scopes: ['files:read'] })).key
      const pinned = await fetch(`${cabinet.url}/api/files/${uploaded[3]!.file_id}`, {
        method: 'PATCH',
        headers: auth(tokens.bob!, { 'content-type': 'application/json' }),
        body: JSON.stringify({ pinned: true }),
      })
      expect(pinned.status).toBe(200)
      expect(await cabinet.server.services.metadata.retention.clearPolicy('bob')).toBe(true)
      const revoked = await fetch(`${cabinet.url}/api/files/${uploaded[1]!.file_id}/grants/${grantIds[1]}`, { method: 'DELETE', headers: auth(tokens.alice!) })
      expect(revoked.status).toBeLessThan(300)
      await cabinet.server.services.metadata.conversations.recordTurn(conversationId, {
        attachments: [],
        messages: [
          { role: 'user', content: 'And the risks?' },
          { role: 'assistant', content: 'Two, on page 2.' },
        ],
        at: new Date(),
      })
    })
    const later = await runCli(['migrate-storage', '--from', fromFile, '--to', toFile, '--json'], QUIET_SDK)
    expect(later.code).toBe(0)
    const report = JSON.parse(later.stdout)
    expect(report).toMatchObject({
      copiedFiles: 0,
      skippedFiles: 4,
      copiedKeys: 1,
      carriedPins: 1,
      clearedRetentionPolicies: 1,
      copiedConversations: 0,
      copiedMessages: 2,
      carriedRevocations: 3,
      failures: [],
    })
    // The revocation itself is audited.
    expect(report.copiedAuditEntries).toBeGreaterThanOrEqual(1)
  })

  it('resumes after an interruption: only what is missing is copied again', async () => {
    // Not a granted file: the grant revoked since the first run must be revoked by that run, not copied anew here.
    const lost = uploaded[2]!
    const db = await target.db()
    await db.deleteFrom('files').where('id', '=', lost.file_id).execute()
    const resumed = await runCli(['migrate-storage', '--from', fromFile, '--to', toFile], QUIET_SDK)
    expect(resumed.code).toBe(0)
    expect(resumed.stdout).toContain('Done: 1 files copied')
    expect(resumed.stdout).toContain('3 already there')
  })

  it('every file then downloads from PostgreSQL + S3 with its SHA-256, with the same tokens and links', async () => {
    const cabinet = await startTestServer({}, target)
    try {
      for (const file of uploaded) {
        const response = await fetch(`${cabinet.url}/api/files/${file.file_id}`, { headers: auth(tokens[file.user]!) })
        expect(response.status).toBe(200)
        expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(file.sha256)
        const meta = await (await fetch(`${cabinet.url}/api/files/${file.file_id}/meta`, { headers: auth(tokens[file.user]!) })).json()
        expect(meta.original_name).toBe(file.name)
      }
      const bobs = await (await fetch(`${cabinet.url}/api/files`, { headers: auth(tokens.bob!) })).json()
      expect(bobs.files.map((f: { original_name: string }) => f.original_name)).toEqual(['scan.jpg'])
      expect((await fetch(`${cabinet.url}${signedUrlPath}`)).status).toBe(200)
      // Keys, users' own limits and exact usage, and WeChat links came along.
      expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(apiKey) })).status).toBe(200)
      const alice = await (await fetch(`${cabinet.url}/api/me`, { headers: auth(tokens.alice!) })).json()
      const aliceBytes = (await (await fetch(`${cabinet.url}/api/files`, { headers: auth(tokens.alice!) })).json()).files.reduce((sum: number, f: { size: number }) => sum + f.size, 0)
      expect(alice).toMatchObject({ usage: { files: 3, bytes: aliceBytes }, quota: { max_files: 50 } })
      expect((await (await fetch(`${cabinet.url}/api/me`, { headers: auth(tokens.bob!) })).json()).usage.files).toBe(1)
      const db = await target.db()
      const links = await db.selectFrom('wechat_accounts').select(['openid', 'user_id']).execute()
      expect(links).toEqual([{ openid: 'o-alice', user_id: 'wx-0123456789abcdef' }])
      expect(await db.selectFrom('retention_policies').select(['user_id', 'retention_ms']).execute()).toEqual([{ user_id: 'alice', retention_ms: null }])

      // The agent's grant still holds; the one revoked at the source does not; nor does the revoked token.
      expect((await fetch(`${cabinet.url}/api/files/${uploaded[0]!.file_id}`, { headers: auth(apiKey) })).status).toBe(200)
      expect((await fetch(`${cabinet.url}/api/files/${uploaded[1]!.file_id}`, { headers: auth(apiKey) })).status).toBe(404)
      expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(tokens.carol!) })).status).toBe(401)
      expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(replacedKey) })).status).toBe(401)
      expect((await fetch(`${cabinet.url}/api/me`, { headers: auth(replacementKey) })).status).toBe(200)
      expect(await db.selectFrom('files').select('pinned').where('id', '=', uploaded[3]!.file_id).executeTakeFirst()).toEqual({ pinned: 1 })

      // Alice's conversation, every turn, with its file.
      const conversation = await (await fetch(`${cabinet.url}/api/chat/conversations/${conversationId}`, { headers: auth(tokens.alice!) })).json()
      expect(conversation.messages.map((m: { seq: number; content: string }) => [m.seq, m.content])).toEqual([
        [1, 'Summarise 报告.pdf'],
        [2, '季度 figures, in short.'],
        [3, 'And the risks?'],
        [4, 'Two, on page 2.'],
      ])
      expect(conversation.attachments).toMatchObject([{ file_id: uploaded[0]!.file_id, name: '报告.pdf', size: 1000, deleted: false }])
      expect((await fetch(`${cabinet.url}/api/chat/conversations/${conversationId}`, { headers: auth(tokens.bob!) })).status).toBe(404)

      // The audit log came along, its entries as they were.
      const actions = (await db.selectFrom('audit_log').select('action').orderBy('at').execute()).map((row) => row.action)
      expect(actions).toEqual(expect.arrayContaining(['grant.create', 'file.download', 'grant.revoke']))
    } finally {
      await cabinet.stop()
    }
  })
})
