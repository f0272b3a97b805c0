import type { Readable } from 'node:stream'
import type { StoredFile } from '../../db/metadata-store.js'
import { ERRORS } from '../../errors.js'
import type { FilePage, FileService } from '../files/file-service.js'
import type { FileSearch } from '../search/file-search.js'
import type { AuditLog } from './audit-log.js'
import type { GrantService } from './grant-service.js'
import type { Caller, RequestOrigin } from './identity.js'

const FILE_ID = /^[0-9a-f]{32}$/

/** A client-sent id, recorded only when it is shaped like one. */
function recordableId(id: string): string | undefined {
  return FILE_ID.test(id) ? id : undefined
}

/** A file a caller may read, and until when (an API key's grant expires; undefined: no end). */
export interface ReadableFile {
  readonly file: StoredFile
  readonly until: Date | undefined
}

/**
 * Which files a caller may touch. A user (token or trusted header) works on their own files
 * exactly as FileService does, at no extra cost. An API key works on its own space, reads
 * other users' files only while it holds a grant (or was created with --all-users), and every
 * one of its accesses, allowed or refused, is written to the audit log.
 */
export class FileAccess {
  constructor(
    private readonly files: FileService,
    private readonly grants: GrantService,
    private readonly audit: AuditLog,
    private readonly fileSearch: FileSearch,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The file, if the caller may read it; FILE_NOT_FOUND otherwise, exactly as for a missing one. */
  async readable(id: string, caller: Caller, origin: RequestOrigin, action: string): Promise<StoredFile> {
    return (await this.readableUntil(id, caller, origin, action)).file
  }

  /** As `readable`, with the end of the key's grant, so that a signed URL cannot outlive it. */
  async readableUntil(id: string, caller: Caller, origin: RequestOrigin, action: string): Promise<ReadableFile> {
    const key = caller.key
    if (!key) return { file: await this.files.getForUser(id, caller.userId), until: undefined }
    const file = await this.files.getById(id).catch(async (error: unknown) => {
      await this.audit.record({ keyId: key.id, action, fileId: recordableId(id), ip: origin.ip, outcome: 'denied', detail: 'no such file' })
      throw error
    })
    if (file.userId === caller.userId || key.allUsers) {
      await this.audit.record({ keyId: key.id, action, fileId: file.id, fileOwner: file.userId, ip: origin.ip, detail: key.allUsers && file.userId !== caller.userId ? 'all users' : 'own' })
      return { file, until: undefined }
    }
    const grant = await this.grants.mayRead(key.id, file.id)
    await this.audit.record({
      keyId: key.id,
      action,
      fileId: file.id,
      fileOwner: file.userId,
      ip: origin.ip,
      outcome: grant ? 'allowed' : 'denied',
      detail: grant ? `grant ${grant.id}` : 'no active grant',
    })
    if (!grant) throw ERRORS.fileNotFound()
    return { file, until: grant.expiresAt }
  }

  /**
   * The file a verified signed link names. A link an API key asked for (`keyId`) works only while
   * the key may still read the file; past that the file answers FILE_NOT_FOUND, as the key's own
   * requests do.
   */
  async linkedFile(id: string, keyId: string | undefined): Promise<StoredFile> {
    const file = await this.files.getById(id)
    if (keyId !== undefined && !(await this.grants.keyMayStillRead(keyId, file))) throw ERRORS.fileNotFound()
    return file
  }

  /** The caller's files; for an API key, its own plus those granted to it now (every user's with --all-users). */
  async list(caller: Caller, origin: RequestOrigin, query: { limit: number; cursor?: string; type?: string }, action = 'file.list'): Promise<FilePage> {
    const key = caller.key
    if (!key) return this.files.list(caller.userId, query)
    const page = await this.files.list(caller.userId, key.allUsers ? { ...query, allUsers: true } : { ...query, grantedTo: { keyId: key.id, at: this.now() } })
    await this.audit.record({ keyId: key.id, action, ip: origin.ip, detail: `${page.files.length} files` })
    return page
  }

  /**
   * A ranked search of names and extracted text over what the caller may read: a user's own files;
   * for an API key its own space, the files granted to it now, or every user's with --all-users.
   */
  async search(caller: Caller, origin: RequestOrigin, query: { q: string; limit: number; cursor?: string; type?: string }, action = 'file.search'): Promise<FilePage> {
    const key = caller.key
    if (!key) return this.fileSearch.search(caller.userId, query)
    const page = await this.fileSearch.search(caller.userId, query, key.allUsers ? { allUsers: true } : { grantedTo: { keyId: key.id, at: this.now() } })
    await this.audit.record({ keyId: key.id, action, ip: origin.ip, detail: `${page.files.length} files` })
    return page
  }

  /** Stores an upload in the caller's space (an API key's own space for a key). */
  async upload(caller: Caller, origin: RequestOrigin, upload: { fileName: string | undefined; body: Readable }): Promise<StoredFile> {
    const file = await this.files.upload({ userId: caller.userId, ...upload })
    if (caller.key) await this.audit.record({ keyId: caller.key.id, action: 'file.upload', fileId: file.id, fileOwner: file.userId, ip: origin.ip })
    return file
  }

  /** Deletes a file of the caller's own space; a key cannot delete files granted to it. */
  async delete(id: string, caller: Caller, origin: RequestOrigin): Promise<void> {
    const key = caller.key
    if (!key) return this.files.delete(id, caller.userId)
    try {
      await this.files.delete(id, caller.userId)
    } catch (error) {
      await this.audit.record({ keyId: key.id, action: 'file.delete', fileId: recordableId(id), ip: origin.ip, outcome: 'denied' })
      throw error
    }
    await this.audit.record({ keyId: key.id, action: 'file.delete', fileId: id, fileOwner: caller.userId, ip: origin.ip })
  }
}
