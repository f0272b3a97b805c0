import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LocalBlobStore } from '../../blob/local-blob-store.js'
import { KyselyMetadataStore } from '../../db/kysely-metadata-store.js'
import type { AuditEntry, GrantRecord, StoredFile } from '../../db/metadata-store.js'
import { migrateStorage, type Storage } from './migrate-storage.js'

const T0 = Date.UTC(2026, 0, 1)
const newId = () => randomBytes(16).toString('hex')

async function openStorage(dir: string): Promise<Storage & { close(): Promise<void> }> {
  const metadata = await KyselyMetadataStore.openSqlite(join(dir, 'cabinet.db'))
  const blobs = await LocalBlobStore.create({ rootDir: join(dir, 'blobs') })
  return { metadata, blobs, close: async () => void (await Promise.all([metadata.close(), blobs.close()])) }
}

/** Every page boundary of the copy, met with more rows than one page holds. */
describe('migrateStorage over many pages', () => {
  let dir: string
  let from: Awaited<ReturnType<typeof openStorage>>
  let to: Awaited<ReturnType<typeof openStorage>>

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cabinet-migrate-'))
    from = await openStorage(join(dir, 'from'))
    to = await openStorage(join(dir, 'to'))
  })
  afterEach(async () => {
    await Promise.all([from.close(), to.close()])
    await rm(dir, { recursive: true, force: true })
  })

  it('copies every grant, conversation and audit entry, ties in time across page ends included, and nothing twice', async () => {
    const bytes = Buffer.from('%PDF-1.4 many pages')
    const id = newId()
    const blobKey = `${id.slice(0, 2)}/${id}`
    await from.blobs.put(blobKey, Readable.from([bytes]))
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    const file: StoredFile = {
      id,
      userId: 'alice',
      status: 'ready',
      originalName: 'a.pdf',
      kind: 'pdf',
      mimeType: 'application/pdf',
      blobKey,
      sizeBytes: bytes.length,
      sha256,
      uploadedAt: new Date(T0),
      pinned: false,
    }
    expect(await from.metadata.files.importReady(file)).toBe(true)
    const keyId = randomBytes(8).toString('hex')
    await from.metadata.apiKeys.insert({
      id: keyId,
      name: 'agent',
      secretHash: 'ef'.repeat(32),
      scopes: ['files:read'],
      allUsers: false,
      createdAt: new Date(T0),
      expiresAt: undefined,
      revokedAt: undefined,
    })

    const grants: GrantRecord[] = Array.from({ length: 450 }, (_, i) => ({
      id: newId(),
      fileId: id,
      keyId,
      grantedBy: 'alice',
      createdAt: new Date(T0 + i),
      expiresAt: new Date(T0 + 3_600_000),
      revokedAt: undefined,
    }))
    for (const grant of grants) await from.metadata.grants.insert(grant)
    const conversationIds = Array.from({ length: 45 }, newId)
    for (const [i, conversationId] of conversationIds.entries()) {
      await from.metadata.conversations.recordTurn(conversationId, {
        create: { userId: i % 2 ? 'alice' : 'bob', title: `t${i}` },
        attachments: [],
        messages: [
          { role: 'user', content: `q${i}` },
          { role: 'assistant', content: `a${i}` },
        ],
        at: new Date(T0 + i),
      })
    }
    // Seven entries share each instant, so pages of 500 end inside a group.
    const entries: AuditEntry[] = Array.from({ length: 1100 }, (_, i) => ({
      id: newId(),
      at: new Date(T0 + Math.floor(i / 7)),
      keyId,
      userId: undefined,
      action: 'file.download',
      fileId: id,
      fileOwner: 'alice',
      ip: '127.0.0.1',
      outcome: 'allowed',
      detail: undefined,
    }))
    expect(await from.metadata.audit.importMissing(entries)).toBe(1100)

    const report = await migrateStorage(from, to)
    expect(report).toMatchObject({ copiedFiles: 1, copiedKeys: 1, copiedGrants: 450, copiedConversations: 45, copiedMessages: 90, copiedAuditEntries: 1100, failures: [] })
    const ids = (rows: Array<{ id: string }>) => rows.map((row) => row.id).sort()
    expect(ids(await to.metadata.grants.listAll({ limit: 1000 }))).toEqual(ids(grants))
    expect((await to.metadata.conversations.exportPage({ limit: 100 })).map((c) => c.conversation.id)).toEqual([...conversationIds].sort())
    expect(ids(await to.metadata.audit.listAfter({ limit: 2000 }))).toEqual(ids(entries))

    const again = await migrateStorage(from, to)
    expect(again).toMatchObject({ skippedFiles: 1, copiedGrants: 0, copiedConversations: 0, copiedMessages: 0, copiedAuditEntries: 0, carriedRevocations: 0 })
  })
})
