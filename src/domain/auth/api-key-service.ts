import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { ApiKeyRecord, ApiKeyRepository, ApiKeyScope } from '../../db/metadata-store.js'

const KEY_PREFIX = 'cabk_'
const KEY_FORMAT = /^cabk_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/
const KEY_ID = /^[0-9a-f]{16}$/
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/**
 * What a key may do. `files:read`: download, meta, list and signed URLs of its own and granted files;
 * `files:write`: upload into and delete from its own space; `chat`: the chat routes; `admin`: the
 * operator's routes (`/api/admin/*`).
 */
export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['files:read', 'files:write', 'chat', 'admin']

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

/** Whether a bearer credential is shaped like an API key (rather than a user's token). */
export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith(KEY_PREFIX)
}

export interface IssuedApiKey {
  /** `cabk_<id>.<secret>`: shown once; only its hash is stored. */
  readonly key: string
  readonly record: ApiKeyRecord
}

export interface NewApiKey {
  /** 1-64 letters, digits, `_ . -`; unique among active keys. */
  readonly name: string
  readonly scopes: readonly ApiKeyScope[]
  readonly allUsers?: boolean
  readonly ttlMs?: number
}

/** API keys for agents and services: created by the operator, looked up by id, compared by hash in constant time. */
export class ApiKeyService {
  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async issue(options: NewApiKey): Promise<IssuedApiKey> {
    if (!KEY_NAME.test(options.name)) throw new Error('Key name must be 1-64 letters, digits and _ . - (starting with a letter or digit)')
    const unknown = options.scopes.filter((scope) => !API_KEY_SCOPES.includes(scope))
    if (unknown.length > 0 || options.scopes.length === 0) {
      throw new Error(`Scopes must be some of ${API_KEY_SCOPES.join(', ')}${unknown.length > 0 ? `; unknown: ${unknown.join(', ')}` : ''}`)
    }
    if (await this.keys.findActiveByName(options.name)) throw new Error(`An active key named "${options.name}" exists; revoke it first or pick another name`)
    const id = randomBytes(8).toString('hex')
    const secret = randomBytes(32).toString('base64url')
    const createdAt = this.now()
    const record: ApiKeyRecord = {
      id,
      name: options.name,
      secretHash: hashSecret(secret),
      scopes: API_KEY_SCOPES.filter((scope) => options.scopes.includes(scope)),
      allUsers: options.allUsers ?? false,
      createdAt,
      expiresAt: options.ttlMs === undefined ? undefined : new Date(createdAt.getTime() + options.ttlMs),
      revokedAt: undefined,
    }
    await this.keys.insert(record)
    return { key: `${KEY_PREFIX}${id}.${secret}`, record }
  }

  /** The key's record when it is well-formed, known, unexpired and unrevoked; otherwise undefined. */
  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    const match = KEY_FORMAT.exec(key)
    if (!match) return undefined
    const record = await this.keys.findById(match[1]!)
    if (!record) return undefined
    const presented = Buffer.from(hashSecret(match[2]!), 'hex')
    const stored = Buffer.from(record.secretHash, 'hex')
    if (presented.length !== stored.length || !timingSafeEqual(presented, stored)) return undefined
    return this.isActive(record) ? record : undefined
  }

  /** An active key by its id or its name, e.g. for granting it a file. */
  async findActive(idOrName: string): Promise<ApiKeyRecord | undefined> {
    const record = KEY_ID.test(idOrName) ? await this.keys.findById(idOrName) : await this.keys.findActiveByName(idOrName)
    return record && this.isActive(record) ? record : undefined
  }

  /** A key by id, whatever its state. */
  find(id: string): Promise<ApiKeyRecord | undefined> {
    return KEY_ID.test(id) ? this.keys.findById(id) : Promise.resolve(undefined)
  }

  /** Revokes by key id, name or the full key; false when nothing active matched. */
  async revoke(keyIdOrName: string): Promise<boolean> {
    const id = KEY_FORMAT.exec(keyIdOrName)?.[1] ?? (KEY_ID.test(keyIdOrName) ? keyIdOrName : (await this.keys.findActiveByName(keyIdOrName))?.id)
    return id === undefined ? false : this.keys.revoke(id, this.now())
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.keys.list()
  }

  private isActive(record: ApiKeyRecord): boolean {
    return !record.revokedAt && !(record.expiresAt && record.expiresAt.getTime() <= this.now().getTime())
  }
}
