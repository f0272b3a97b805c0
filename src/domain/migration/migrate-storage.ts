import { createHash } from 'node:crypto'
import { PassThrough, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore } from '../../blob/blob-store.js'
import type { MetadataStore, StoredFile } from '../../db/metadata-store.js'
import { keysetPages } from '../../keyset-pages.js'

export interface Storage {
  readonly metadata: MetadataStore
  readonly blobs: BlobStore
}

export interface MigrationReport {
  copiedFiles: number
  copiedBytes: number
  /** Already at the target with the same SHA-256: a resumed run skips them. */
  skippedFiles: number
  copiedTokens: number
  /** API keys the target lacked. */
  copiedKeys: number
  /** Users' own retention policies the target lacked or held otherwise, and those cleared at the source since. */
  copiedRetentionPolicies: number
  clearedRetentionPolicies: number
  /** Files already at the target whose pin changed at the source since. */
  carriedPins: number
  /** Tokens, API keys and grants revoked at the source after an earlier run copied them. */
  carriedRevocations: number
  /** Grants of copied files to copied keys. */
  copiedGrants: number
  /** Conversations the target lacked, and messages (of new or continued conversations). */
  copiedConversations: number
  copiedMessages: number
  copiedAuditEntries: number
  failures: Array<{ fileId: string; reason: string }>
}

/** Settings that must travel so that links and sign-ins keep working after the move. */
const CARRIED_SETTINGS = ['url_secret']
const PAGE = 200
/** Conversations per page: each comes with all its messages. */
const CONVERSATION_PAGE = 20
const AUDIT_PAGE = 500

/**
 * Copies every ready file (bytes and metadata), every token and API key, users' own quotas,
 * retention policies and WeChat links, the shared settings, the grants of the copied files, every conversation
 * and the audit log from one storage to another. Each blob is verified against its recorded
 * SHA-256 while it streams; a row is written only after its blob is safely stored, so an
 * interrupted run can simply be run again and picks up where it stopped. A run after more use
 * of the source carries new files, turns and entries, pins, retention policies and revocations;
 * not deletions or quota changes (the last run should find the source stopped).
 */
export async function migrateStorage(
  from: Storage,
  to: Storage,
  onFile: (file: StoredFile, outcome: 'copied' | 'skipped' | 'failed') => void = () => {},
): Promise<MigrationReport> {
  const report: MigrationReport = {
    copiedFiles: 0,
    copiedBytes: 0,
    skippedFiles: 0,
    copiedTokens: 0,
    copiedKeys: 0,
    copiedRetentionPolicies: 0,
    clearedRetentionPolicies: 0,
    carriedPins: 0,
    carriedRevocations: 0,
    copiedGrants: 0,
    copiedConversations: 0,
    copiedMessages: 0,
    copiedAuditEntries: 0,
    failures: [],
  }

  for (const key of CARRIED_SETTINGS) {
    const value = await from.metadata.settings.getOrCreate(key, () => '')
    if (value !== '') await to.metadata.settings.getOrCreate(key, () => value)
  }
  // Revocations first: a key revoked and then replaced under its name must free the name at the target.
  const tokens = await from.metadata.tokens.list()
  const keys = await from.metadata.apiKeys.list()
  report.carriedRevocations += await carryRevocations(to.metadata.tokens, tokens)
  report.carriedRevocations += await carryRevocations(to.metadata.apiKeys, keys)
  for (const token of tokens) {
    if (await to.metadata.tokens.findById(token.id)) continue
    await to.metadata.tokens.insert(token)
    report.copiedTokens += 1
  }
  for (const key of keys) {
    if (await to.metadata.apiKeys.findById(key.id)) continue
    await to.metadata.apiKeys.insert(key)
    report.copiedKeys += 1
  }
  const users = await from.metadata.users.exportAll()
  await copyRetentionPolicies(from, to, new Set(users.users.map((user) => user.userId)), report)
  // Users' own limits and WeChat links; usage follows from the files as importReady counts them.
  await to.metadata.users.importAll(users, new Date())

  const filePages = keysetPages(PAGE, (afterId?: string) => from.metadata.files.listAllReady({ limit: PAGE, ...(afterId ? { afterId } : {}) }), (file) => file.id)
  for await (const page of filePages) {
    for (const file of page) {
      try {
        const copy = await copyAtTarget(to, file)
        if (copy) {
          // Pinned or unpinned at the source since the last run.
          if (copy.pinned !== file.pinned && (await to.metadata.files.setPinned(file.id, file.userId, file.pinned))) report.carriedPins += 1
          report.skippedFiles += 1
          onFile(file, 'skipped')
          continue
        }
        await copyVerified(from.blobs, to.blobs, file)
        await to.metadata.files.importReady(file)
        report.copiedFiles += 1
        report.copiedBytes += file.sizeBytes
        onFile(file, 'copied')
      } catch (error) {
        report.failures.push({ fileId: file.id, reason: error instanceof Error ? error.message : String(error) })
        onFile(file, 'failed')
      }
    }
  }
  // Whatever an earlier, interrupted run left, usage now matches the files exactly.
  await to.metadata.users.recountUsage(new Date())

  // Grants need their file and key at the target: a file that failed to copy keeps its grants behind.
  const grantPages = keysetPages(PAGE, (afterId?: string) => from.metadata.grants.listAll({ limit: PAGE, ...(afterId ? { afterId } : {}) }), (grant) => grant.id)
  for await (const page of grantPages) {
    for (const grant of page) {
      const outcome = await to.metadata.grants.import(grant)
      if (outcome === 'copied') report.copiedGrants += 1
      else if (outcome === 'revoked') report.carriedRevocations += 1
    }
  }
  const conversationPages = keysetPages(
    CONVERSATION_PAGE,
    (afterId?: string) => from.metadata.conversations.exportPage({ limit: CONVERSATION_PAGE, ...(afterId ? { afterId } : {}) }),
    (exported) => exported.conversation.id,
  )
  for await (const page of conversationPages) {
    for (const conversation of page) {
      const added = await to.metadata.conversations.import(conversation)
      if (added.created) report.copiedConversations += 1
      report.copiedMessages += added.messages
    }
  }
  const auditPages = keysetPages(
    AUDIT_PAGE,
    (after?: { atMs: number; id: string }) => from.metadata.audit.listAfter({ limit: AUDIT_PAGE, ...(after ? { after } : {}) }),
    (entry) => ({ atMs: entry.at.getTime(), id: entry.id }),
  )
  for await (const page of auditPages) report.copiedAuditEntries += await to.metadata.audit.importMissing(page)
  return report
}

interface Revocable {
  readonly id: string
  readonly revokedAt: Date | undefined
}

/** Revokes at the target the copies of records revoked at the source since; returns how many. */
async function carryRevocations(
  target: { findById(id: string): Promise<Revocable | undefined>; revoke(id: string, at: Date): Promise<boolean> },
  records: readonly Revocable[],
): Promise<number> {
  let carried = 0
  for (const record of records) {
    if (!record.revokedAt) continue
    const copy = await target.findById(record.id)
    if (copy && !copy.revokedAt && (await target.revoke(record.id, record.revokedAt))) carried += 1
  }
  return carried
}

/** The target's row of the file when its bytes are there too, with the same SHA-256. */
async function copyAtTarget(to: Storage, file: StoredFile): Promise<StoredFile | undefined> {
  const row = await to.metadata.files.findReady(file.id)
  if (!row || row.sha256 !== file.sha256) return undefined
  return (await to.blobs.head(file.blobKey))?.sizeBytes === file.sizeBytes ? row : undefined
}

/**
 * Before any file: a file must never meet the target's clean-up without its owner's own retention.
 * The source decides for its users (a policy cleared there is cleared at the target); the target's
 * other users are left alone.
 */
async function copyRetentionPolicies(from: Storage, to: Storage, sourceUsers: ReadonlySet<string>, report: MigrationReport): Promise<void> {
  const policies = await from.metadata.retention.listPolicies()
  for (const policy of policies) {
    const copy = await to.metadata.retention.getPolicy(policy.userId)
    if (copy && copy.retentionMs === policy.retentionMs) continue
    await to.metadata.retention.setPolicy(policy.userId, policy.retentionMs ?? null, policy.updatedAt)
    report.copiedRetentionPolicies += 1
  }
  const kept = new Set(policies.map((policy) => policy.userId))
  for (const policy of await to.metadata.retention.listPolicies()) {
    if (sourceUsers.has(policy.userId) && !kept.has(policy.userId) && (await to.metadata.retention.clearPolicy(policy.userId))) {
      report.clearedRetentionPolicies += 1
    }
  }
}

/** Streams one blob across, hashing on the way; a copy whose hash or size is off is removed and reported. */
async function copyVerified(from: BlobStore, to: BlobStore, file: StoredFile): Promise<void> {
  const hash = createHash('sha256')
  let sizeBytes = 0
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      sizeBytes += chunk.length
      callback(null, chunk)
    },
  })
  const body = new PassThrough()
  const [read, written] = await Promise.allSettled([
    pipeline(await from.get(file.blobKey), hashing, body),
    to.put(file.blobKey, body, { contentType: file.mimeType }),
  ])
  if (read.status === 'rejected') throw read.reason
  if (written.status === 'rejected') throw written.reason
  const sha256 = hash.digest('hex')
  if (sha256 !== file.sha256 || sizeBytes !== file.sizeBytes) {
    await to.delete(file.blobKey)
    throw new Error(`content does not match its record (sha256 ${sha256}, ${sizeBytes} bytes; recorded ${file.sha256}, ${file.sizeBytes} bytes)`)
  }
}
