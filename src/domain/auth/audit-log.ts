import { randomBytes } from 'node:crypto'
import type { AuditEntry, AuditQuery, AuditRepository } from '../../db/metadata-store.js'

/** What to record; the id and time are added. */
export interface AuditEvent {
  /** The API key that acted, if a key did. */
  readonly keyId?: string
  /** The user that acted, if a user did (e.g. granting a file to a key). */
  readonly userId?: string
  /** Dotted verb, e.g. `file.download`, `file.list`, `grant.create`, `chat.attach`. At most 64 characters. */
  readonly action: string
  readonly fileId?: string
  readonly fileOwner?: string
  /** The client's address. */
  readonly ip?: string
  /** `denied` for an attempt that was refused (e.g. a file the key holds no grant for). Default `allowed`. */
  readonly outcome?: 'allowed' | 'denied'
  /** A few words more; never a secret. */
  readonly detail?: string
}

/**
 * The audit log: who (key or user) did what to which file, when and from where. Every access by an
 * API key is recorded before it is answered, so a failure to record fails the request.
 */
export class AuditLog {
  constructor(
    private readonly entries: AuditRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(event: AuditEvent): Promise<void> {
    await this.entries.insert({
      id: randomBytes(16).toString('hex'),
      at: this.now(),
      keyId: event.keyId,
      userId: event.userId,
      action: event.action,
      fileId: event.fileId,
      fileOwner: event.fileOwner,
      ip: event.ip,
      outcome: event.outcome ?? 'allowed',
      detail: event.detail,
    })
  }

  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEntry[]> {
    return this.entries.list(query)
  }

  /** Removes entries older than `retentionDays`; 0 keeps everything. */
  async purge(retentionDays: number): Promise<number> {
    if (retentionDays === 0) return 0
    return this.entries.purgeBefore(new Date(this.now().getTime() - retentionDays * 86_400_000))
  }
}
