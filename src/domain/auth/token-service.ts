import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { TokenRecord, TokenRepository } from '../../db/metadata-store.js'
import { isPersonUserId } from './identity.js'

const TOKEN_PREFIX = 'cab_'
const TOKEN_FORMAT = /^cab_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export interface IssuedToken {
  /** Shown once; only its hash is stored. */
  readonly token: string
  readonly record: TokenRecord
}

export interface TokenServiceOptions {
  /**
   * How long a verified token is believed without asking the database again (0: never). Every request
   * checks its token, so the server keeps them a moment; a revocation made elsewhere (another instance,
   * the CLI) takes effect within this time, one made through this service at once.
   */
  readonly cacheMs?: number
  /** Most tokens kept verified at once; the oldest goes first. */
  readonly cacheEntries?: number
}

/** Bearer tokens: `cab_<id>.<secret>`, looked up by id and compared by hash in constant time. */
export class TokenService {
  /** By token id; the secret's hash is kept to compare, never the secret. */
  private readonly verified = new Map<string, { record: TokenRecord; until: number }>()

  constructor(
    private readonly tokens: TokenRepository,
    private readonly now: () => Date = () => new Date(),
    private readonly options: TokenServiceOptions = {},
  ) {}

  async issue(userId: string, options: { ttlMs?: number; admin?: boolean } = {}): Promise<IssuedToken> {
    if (!isPersonUserId(userId)) {
      throw new Error('User id must be 1-128 characters: letters, digits and _ . : @ - (starting with a letter or digit, and not key:)')
    }
    const id = randomBytes(8).toString('hex')
    const secret = randomBytes(32).toString('base64url')
    const createdAt = this.now()
    const record: TokenRecord = {
      id,
      userId,
      secretHash: hashSecret(secret),
      createdAt,
      expiresAt: options.ttlMs === undefined ? undefined : new Date(createdAt.getTime() + options.ttlMs),
      revokedAt: undefined,
      admin: options.admin ?? false,
    }
    await this.tokens.insert(record)
    return { token: `${TOKEN_PREFIX}${id}.${secret}`, record }
  }

  /** The token's record when it is well-formed, known, unexpired and unrevoked; otherwise undefined. */
  async verify(token: string): Promise<TokenRecord | undefined> {
    const match = TOKEN_FORMAT.exec(token)
    if (!match) return undefined
    const id = match[1]!
    const nowMs = this.now().getTime()
    const cached = this.verified.get(id)
    const record = cached && cached.until > nowMs ? cached.record : await this.tokens.findById(id)
    if (!record) return undefined
    const presented = Buffer.from(hashSecret(match[2]!), 'hex')
    const stored = Buffer.from(record.secretHash, 'hex')
    if (presented.length !== stored.length || !timingSafeEqual(presented, stored)) return undefined
    if (record.revokedAt) return undefined
    if (record.expiresAt && record.expiresAt.getTime() <= nowMs) return undefined
    if (!cached || cached.until <= nowMs) this.remember(record, nowMs)
    return record
  }

  /** Revokes by token id or by the full token; false when nothing active matched. */
  async revoke(tokenOrId: string): Promise<boolean> {
    const id = TOKEN_FORMAT.exec(tokenOrId)?.[1] ?? tokenOrId
    this.verified.delete(id)
    return this.tokens.revoke(id, this.now())
  }

  list(userId?: string): Promise<TokenRecord[]> {
    return this.tokens.list(userId)
  }

  private remember(record: TokenRecord, nowMs: number): void {
    const cacheMs = this.options.cacheMs ?? 0
    if (cacheMs <= 0) return
    this.verified.delete(record.id)
    if (this.verified.size >= (this.options.cacheEntries ?? 10_000)) this.verified.delete(this.verified.keys().next().value!)
    this.verified.set(record.id, { record, until: nowMs + cacheMs })
  }
}
