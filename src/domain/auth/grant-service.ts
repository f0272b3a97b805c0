import { randomBytes } from 'node:crypto'
import type { GrantRecord, GrantRepository, StoredFile } from '../../db/metadata-store.js'
import { ERRORS } from '../../errors.js'
import type { FileService } from '../files/file-service.js'
import type { ApiKeyService } from './api-key-service.js'
import type { AuditLog } from './audit-log.js'
import { keySpaceUserId, type RequestOrigin } from './identity.js'

/** A grant as its owner sees it. */
export interface Grant extends GrantRecord {
  /** The key's name at the time of asking. */
  readonly keyName: string | undefined
}

export interface GrantRequest {
  readonly fileId: string
  /** The user granting; must own the file (anyone else gets FILE_NOT_FOUND). */
  readonly ownerId: string
  /** The key's id or name; an unknown, revoked or expired key gets KEY_NOT_FOUND. */
  readonly key: string
  /** Lifetime; the configured default when omitted, at most the configured maximum. */
  readonly ttlSeconds?: number
  readonly origin: RequestOrigin
  /** Audit action; `grant.create` unless the caller names its own, e.g. `chat.attach`. */
  readonly action?: string
}

export interface GrantServiceOptions {
  readonly defaultTtlSeconds: number
  readonly maxTtlSeconds: number
}

/**
 * Grants let one API key read one of a user's files until they expire or are revoked. Users grant
 * with `POST /api/files/:id/grants`; the chat routes grant when a user attaches a file to a chat
 * that a key serves. Every grant and revocation is written to the audit log.
 *
 * ```ts
 * const grant = await grants.grant({ fileId, ownerId: caller.userId, key: chat.keyId, ttlSeconds: 3600, origin, action: 'chat.attach' })
 * if (await grants.mayRead(keyId, fileId)) { ... }
 * ```
 */
export class GrantService {
  constructor(
    private readonly grants: GrantRepository,
    private readonly files: FileService,
    private readonly keys: ApiKeyService,
    private readonly audit: AuditLog,
    private readonly options: GrantServiceOptions,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Grants the owner's ready file to the key. Several grants of one file to one key may coexist; the longest counts. */
  async grant(request: GrantRequest): Promise<Grant> {
    const ttlSeconds = request.ttlSeconds ?? this.options.defaultTtlSeconds
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > this.options.maxTtlSeconds) {
      throw ERRORS.badRequest(`ttl must be a whole number of seconds from 1 to ${this.options.maxTtlSeconds}`)
    }
    const file = await this.files.getForUser(request.fileId, request.ownerId)
    const key = await this.keys.findActive(request.key)
    if (!key) throw ERRORS.keyNotFound()
    const createdAt = this.now()
    const grant: GrantRecord = {
      id: randomBytes(8).toString('hex'),
      fileId: file.id,
      keyId: key.id,
      grantedBy: request.ownerId,
      createdAt,
      expiresAt: new Date(createdAt.getTime() + ttlSeconds * 1000),
      revokedAt: undefined,
    }
    await this.grants.insert(grant)
    await this.audit.record({
      userId: request.ownerId,
      keyId: key.id,
      action: request.action ?? 'grant.create',
      fileId: file.id,
      fileOwner: file.userId,
      ip: request.origin.ip,
      detail: `until ${grant.expiresAt.toISOString()}`,
    })
    return { ...grant, keyName: key.name }
  }

  /** Revokes one grant of the owner's file at once; GRANT_NOT_FOUND when it has no such active grant. */
  async revoke(request: { fileId: string; ownerId: string; grantId: string; origin: RequestOrigin }): Promise<void> {
    const file = await this.files.getForUser(request.fileId, request.ownerId)
    const grant = (await this.grants.listForFile(file.id)).find((g) => g.id === request.grantId)
    if (!grant || !(await this.grants.revoke(request.grantId, file.id, this.now()))) throw ERRORS.grantNotFound()
    await this.audit.record({
      userId: request.ownerId,
      keyId: grant.keyId,
      action: 'grant.revoke',
      fileId: file.id,
      fileOwner: file.userId,
      ip: request.origin.ip,
    })
  }

  /** The owner's file's grants, newest first, with expired and revoked ones. */
  async list(request: { fileId: string; ownerId: string }): Promise<Grant[]> {
    const file = await this.files.getForUser(request.fileId, request.ownerId)
    const grants = await this.grants.listForFile(file.id)
    const names = new Map<string, string | undefined>()
    for (const grant of grants) {
      if (!names.has(grant.keyId)) names.set(grant.keyId, (await this.keys.find(grant.keyId))?.name)
    }
    return grants.map((grant) => ({ ...grant, keyName: names.get(grant.keyId) }))
  }

  /**
   * Whether a link the key asked for may still download the file: the key is active, and the file
   * is in its own space, or it reads every user's, or it holds an active grant for the file.
   */
  async keyMayStillRead(keyId: string, file: StoredFile): Promise<boolean> {
    const key = await this.keys.findActive(keyId)
    if (!key) return false
    if (file.userId === keySpaceUserId(key.id) || key.allUsers) return true
    return (await this.mayRead(key.id, file.id)) !== undefined
  }

  /** The active grant that lets key K read file F now (the longest-lasting one), or undefined. */
  mayRead(keyId: string, fileId: string): Promise<GrantRecord | undefined> {
    return this.grants.findActive(keyId, fileId, this.now())
  }
}
